import { existsSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { startLocalCluster } from '../../src/localpg/cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Superuser URL of the PostgreSQL server the whole run shares; each test makes its own databases. */
    adminUrl: string;
    /** Where the server came from: env, container or local. */
    serverSource: string;
  }
}

/** A container through testcontainers, only when a Docker engine is there to answer. */
async function startContainer(): Promise<{ url: string; stop: () => Promise<void> } | undefined> {
  if (!process.env.DOCKER_HOST && !existsSync('/var/run/docker.sock')) return undefined;
  try {
    const { GenericContainer, Wait } = await import('testcontainers');
    const password = 'orchestrate-test';
    const container = await new GenericContainer('postgres:15')
      .withEnvironment({ POSTGRES_PASSWORD: password })
      .withExposedPorts(5432)
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .withStartupTimeout(120_000)
      .start();
    return {
      url: `postgresql://postgres:${password}@${container.getHost()}:${container.getMappedPort(5432)}/postgres`,
      stop: async () => void (await container.stop()),
    };
  } catch (error) {
    console.warn(`testcontainers could not start PostgreSQL (${error instanceof Error ? error.message : String(error)}); using a local cluster`);
    return undefined;
  }
}

/**
 * One real PostgreSQL for the run: TEST_DATABASE_URL if set, else a container when Docker answers,
 * else an ephemeral local cluster from the server binaries on this machine.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (process.env.TEST_DATABASE_URL) {
    project.provide('adminUrl', process.env.TEST_DATABASE_URL);
    project.provide('serverSource', 'env');
    return async () => undefined;
  }
  const container = await startContainer();
  if (container) {
    project.provide('adminUrl', container.url);
    project.provide('serverSource', 'container');
    return container.stop;
  }
  const cluster = await startLocalCluster();
  project.provide('adminUrl', cluster.url);
  project.provide('serverSource', 'local');
  return cluster.stop;
}
