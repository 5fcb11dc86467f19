import { describe, expect, it } from 'vitest';
import { parseFunctionLanguages, parseTocList } from '../../src/preflight/archiveToc.js';

// Lines as pg_restore 15 prints them (the real archive round trip is in restore.test.ts).
const LISTING = `;
; Archive created at 2026-11-22 02:53:38 UTC
;     dbname: exp1
;
3; 3079 16520 EXTENSION - dblink 
3497; 0 0 COMMENT - EXTENSION dblink 
284; 1255 16569 FUNCTION public f2(integer, text) postgres
233; 1255 16570 PROCEDURE billing close_month(date) app_owner
216; 1259 16385 TABLE public t postgres
3345; 3466 16567 EVENT TRIGGER - log_ddl_trg postgres
12; 2328 16600 FOREIGN DATA WRAPPER - my_fdw postgres
13; 2612 16601 PROCEDURAL LANGUAGE - plsample postgres
`;

describe('reading an archive listing', () => {
  it('keeps the kinds that may need a superuser, with multi-word kinds, tags with spaces, and extensions without an owner', () => {
    expect(parseTocList(LISTING).map(({ kind, schema, tag }) => ({ kind, schema, tag }))).toEqual([
      { kind: 'EXTENSION', schema: null, tag: 'dblink' },
      { kind: 'FUNCTION', schema: 'public', tag: 'f2(integer, text)' },
      { kind: 'PROCEDURE', schema: 'billing', tag: 'close_month(date)' },
      { kind: 'EVENT TRIGGER', schema: null, tag: 'log_ddl_trg' },
      { kind: 'FOREIGN DATA WRAPPER', schema: null, tag: 'my_fdw' },
      { kind: 'PROCEDURAL LANGUAGE', schema: null, tag: 'plsample' },
    ]);
  });

  it('finds each function\'s language in the definitions pg_restore prints', () => {
    const script = `--
-- Name: f2(integer, text); Type: FUNCTION; Schema: public; Owner: postgres
--

CREATE FUNCTION public.f2(a integer, b text) RETURNS integer
    LANGUAGE sql
    AS $$select 'LANGUAGE c'$$;

--
-- Name: now2(); Type: FUNCTION; Schema: public; Owner: postgres
--

CREATE FUNCTION public.now2() RETURNS timestamp with time zone
    LANGUAGE internal
    AS $$now$$;
`;
    expect(Object.fromEntries(parseFunctionLanguages(script))).toEqual({ 'public.f2(integer, text)': 'sql', 'public.now2()': 'internal' });
  });
});
