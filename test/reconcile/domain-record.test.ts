import type { Desired, View } from '../../pkg/reconcile/decide.js';
import {
  type DomainRecord,
  decisionView,
  generationToFile,
  ledgerEntry,
  recordFrom,
} from '../../pkg/reconcile/domain-record.js';
import type { LedgerEntry } from '../../pkg/reconcile/ledger.js';
import type { DomainSpec } from '../../pkg/schema/domain-spec.js';
import { domainSpec, UUID } from '../support/reconcile-fixtures.js';

const spec = (over: Partial<DomainSpec> = {}): DomainSpec =>
  domainSpec({ restartCounter: 5, purgeCounter: 3, ...over });
const built = spec({ name: 'a-built' });
const record = (over: Partial<DomainRecord> = {}): DomainRecord => ({ ...recordFrom(), ...over });

describe('recordFrom: the record a worker starts with', () => {
  const entry = (phase: LedgerEntry['phase']): LedgerEntry => ({
    uuid: UUID,
    name: 'a',
    phase,
    restartCounter: 2,
    purgeCounter: 1,
    restartCount: 4,
    runningSpec: built,
    currentMemoryMiB: 512,
  });
  test.each<[string, LedgerEntry | undefined, Partial<DomainRecord>, boolean]>([
    [
      'nothing remembered: nothing built, no counter acted on',
      undefined,
      {
        runningSpec: null,
        currentMemoryMiB: null,
        actedRestartCounter: null,
        actedPurgeCounter: null,
        restartCount: 0,
      },
      false,
    ],
    [
      'remembered created: what was built and acted on',
      entry('created'),
      {
        runningSpec: built,
        currentMemoryMiB: 512,
        actedRestartCounter: 2,
        actedPurgeCounter: 1,
        restartCount: 4,
      },
      false,
    ],
    ['remembered creating: the create was interrupted', entry('creating'), { runningSpec: built }, true],
    ['remembered stopped: not interrupted', entry('stopped'), { restartCount: 4 }, false],
  ])('%s', (_name, remembered, expected, interrupted) => {
    const r = recordFrom(remembered);
    expect(r).toMatchObject(expected);
    expect(r.k).toEqual({
      actual: 'unknown',
      ref: null,
      booting: false,
      pausing: false,
      runningSince: null,
      haltingUntil: null,
      bootTime: null,
      interruptedCreate: interrupted,
      attempt: 0,
      stopDetail: null,
      missingSince: null,
    });
    expect(r).toMatchObject({ vifs: [], stoppedByGuest: false, retryAt: null, error: null });
    expect(r.unsupported.size).toBe(0);
  });

  test('each record has its own set of unsupported operations', () => {
    const a = recordFrom();
    a.unsupported.add('pause');
    expect(recordFrom().unsupported.size).toBe(0);
  });
});

describe('ledgerEntry: what the ledger keeps', () => {
  const base = { uuid: UUID, restartCount: 4, currentMemoryMiB: 512 };
  test.each<[string, DomainRecord, DomainSpec | undefined, LedgerEntry]>([
    [
      "no spec: the record's running spec and the config name",
      record({
        runningSpec: built,
        actedRestartCounter: 2,
        actedPurgeCounter: 1,
        restartCount: 4,
        currentMemoryMiB: 512,
      }),
      undefined,
      { ...base, name: 'a', phase: 'stopped', restartCounter: 2, purgeCounter: 1, runningSpec: built },
    ],
    [
      'no spec, no counter acted on yet: 0',
      record({ restartCount: 4, currentMemoryMiB: 512 }),
      undefined,
      { ...base, name: 'a', phase: 'stopped', restartCounter: 0, purgeCounter: 0, runningSpec: null },
    ],
    [
      'a create: the spec it builds from, by its name',
      record({ actedRestartCounter: 2, actedPurgeCounter: 1, restartCount: 4, currentMemoryMiB: 512 }),
      built,
      { ...base, name: 'a-built', phase: 'stopped', restartCounter: 2, purgeCounter: 1, runningSpec: built },
    ],
    [
      "a create before any counter was acted on: the spec's counters",
      record({ restartCount: 4, currentMemoryMiB: 512 }),
      built,
      { ...base, name: 'a-built', phase: 'stopped', restartCounter: 5, purgeCounter: 3, runningSpec: built },
    ],
  ])('%s', (_name, r, builtFrom, expected) =>
    expect(ledgerEntry(UUID, 'a', r, 'stopped', builtFrom)).toEqual(expected));

  test('created while a shutdown domainmgr asked for is under way: still halting (kill campaign)', () => {
    const r = record({ runningSpec: built, haltRequested: true });
    expect(ledgerEntry(UUID, 'a', r, 'created').phase).toBe('halting');
    expect(ledgerEntry(UUID, 'a', r, 'stopped').phase).toBe('stopped');
    expect(ledgerEntry(UUID, 'a', { ...r, haltRequested: false }, 'created').phase).toBe('created');
  });
});

describe('generationToFile: a config that needed no action still goes on file', () => {
  const withFiled = (filed: DomainRecord['filed'], observedGeneration: number): DomainRecord => ({
    ...recordFrom(),
    filed,
    observedGeneration,
  });
  test.each([
    ['no entry (not ours)', null, 5, null],
    ['the entry holds the newest generation', { phase: 'created', observedGeneration: 5 }, 5, null],
    ['a newer generation, domain running', { phase: 'created', observedGeneration: 4 }, 5, 'created'],
    ['a newer generation, domain halted', { phase: 'stopped', observedGeneration: 2 }, 5, 'stopped'],
    ['a newer generation during a halt', { phase: 'halting', observedGeneration: 2 }, 5, 'halting'],
    [
      'a newer generation while creating: the entry names the spec being built',
      { phase: 'creating', observedGeneration: 1 },
      5,
      null,
    ],
  ] as const)('%s', (_name, filed, generation, phase) => {
    expect(generationToFile(withFiled(filed, generation))).toBe(phase);
  });

  test("recordFrom takes the generation on file, else the running spec's (entries of earlier versions)", () => {
    const base: LedgerEntry = {
      uuid: UUID,
      name: 'a',
      phase: 'stopped',
      restartCounter: 0,
      purgeCounter: 0,
      restartCount: 0,
      runningSpec: domainSpec({ generation: 3 }),
      currentMemoryMiB: null,
    };
    expect(recordFrom(base).observedGeneration).toBe(3);
    expect(recordFrom({ ...base, observedGeneration: 7 })).toMatchObject({
      observedGeneration: 7,
      filed: { phase: 'stopped', observedGeneration: 7 },
    });
    expect(
      ledgerEntry(UUID, 'a', recordFrom({ ...base, observedGeneration: 7 }), 'stopped').observedGeneration,
    ).toBe(7);
  });
});

describe('decisionView: what decide() is asked', () => {
  const run = (over: Partial<DomainSpec> = {}): Desired => ({ kind: 'run', spec: spec(over) });
  test.each<[string, Partial<DomainRecord>, Desired, Pick<View, 'restartRequested' | 'purgeRequested'>]>([
    [
      'no counter acted on yet: nothing requested',
      {},
      run(),
      { restartRequested: false, purgeRequested: false },
    ],
    [
      'counters as acted on: nothing requested',
      { actedRestartCounter: 5, actedPurgeCounter: 3 },
      run(),
      { restartRequested: false, purgeRequested: false },
    ],
    [
      'restartCounter raised: restart',
      { actedRestartCounter: 4, actedPurgeCounter: 3 },
      run(),
      { restartRequested: true, purgeRequested: false },
    ],
    [
      'purgeCounter raised: purge',
      { actedRestartCounter: 5, actedPurgeCounter: 2 },
      run(),
      { restartRequested: false, purgeRequested: true },
    ],
    [
      'a counter lowered: nothing requested',
      { actedRestartCounter: 6, actedPurgeCounter: 4 },
      run(),
      { restartRequested: false, purgeRequested: false },
    ],
    [
      'raised on a halt: still requested (a purge of a halted domain)',
      { actedRestartCounter: 4, actedPurgeCounter: 2 },
      { kind: 'halt', spec: spec() },
      { restartRequested: true, purgeRequested: true },
    ],
    [
      'delete: nothing requested',
      { actedRestartCounter: 0, actedPurgeCounter: 0 },
      { kind: 'delete' },
      { restartRequested: false, purgeRequested: false },
    ],
  ])('%s', (_name, over, desired, requested) =>
    expect(decisionView(record(over), desired, 1_000)).toMatchObject({ ...requested, now: 1_000, desired }));

  test('the rest is the record as it is', () => {
    const r = record({
      k: {
        actual: 'running',
        ref: null,
        booting: true,
        pausing: false,
        runningSince: 1,
        haltingUntil: 9_000,
        bootTime: 2,
        interruptedCreate: true,
        attempt: 1,
        stopDetail: null,
        missingSince: null,
      },
      stoppedByGuest: true,
      retryAt: 7_000,
      mutationRetryAt: null,
      runningSpec: built,
      currentMemoryMiB: 300,
    });
    const desired = run();
    expect(decisionView(r, desired, 1_000)).toEqual({
      now: 1_000,
      haltRequested: false,
      desired,
      actual: 'running',
      booting: true,
      haltingUntil: 9_000,
      interruptedCreate: true,
      restartRequested: false,
      purgeRequested: false,
      stoppedByGuest: true,
      retryAt: 7_000,
      mutationRetryAt: null,
      runningSpec: built,
      currentMemoryMiB: 300,
    });
  });
});
