import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { xlSpecCheck } from '../../pkg/hypervisor/xl.js';
import { decodeConfigMessage } from '../../pkg/schema/domain-config-message.js';
import { isDomainUuid } from '../../pkg/schema/uuid.js';
import { type HostileMessage, hostileRecipe, type MessageContext, schemaFields } from './hostile-messages.js';

/**
 * The hostile-message generator against the node's pure decision (decoder, then the xl
 * backend's spec check), in process: every message gets an answer and never an exception, and
 * the answer is the one the recipe expects, naming the field it broke. fast-check shrinks a
 * failure to its smallest recipe and prints the seed to replay it.
 */

const IMAGES = '/var/lib/fuzz-images';

const context = fc.record({
  uuid: fc.uuid({ version: 4 }),
  otherUuid: fc.uuid({ version: 4 }),
  index: fc.nat(100_000),
});

function build(recipe: { build(ctx: MessageContext): HostileMessage }, c: Omit<MessageContext, 'images'>) {
  return recipe.build({ ...c, images: IMAGES });
}

/** The node's answer, as the engine decides it: errors (rejected) or the accepted spec. */
function decide(m: HostileMessage): { errors: string[] } | { generation: number } {
  const decoded = decodeConfigMessage(m.payload, m.token, [IMAGES]);
  if (decoded.kind === 'invalid') return { errors: decoded.errors };
  if (decoded.kind === 'delete') throw new Error('empty payload');
  const problems = xlSpecCheck(decoded.spec).problems;
  return problems.length > 0 ? { errors: problems } : { generation: decoded.spec.generation };
}

describe('hostile config messages, decided in process', () => {
  test('the schema walk finds every constrained field of DomainConfig', () => {
    const pointers = schemaFields().map((f) => f.pointer);
    expect(pointers).toEqual(
      expect.arrayContaining([
        '/uuid',
        '/memoryMiB',
        '/vifs',
        '/vifs/0/mac',
        '/disks/0/path',
        '/pciDevices/0/bdf',
      ]),
    );
  });

  test('every message is answered as its recipe expects, without an exception', () => {
    fc.assert(
      fc.property(hostileRecipe, context, (recipe, c) => {
        const m = build(recipe, c);
        if (m.expect.kind === 'ignored') {
          expect(isDomainUuid(m.token)).toBe(false);
          return;
        }
        const answer = decide(m);
        if (m.expect.kind === 'valid') {
          expect(answer).toEqual({ generation: m.expect.generation });
          return;
        }
        expect(answer).toHaveProperty('errors');
        const text = 'errors' in answer ? answer.errors.join('; ') : '';
        if (m.expect.names !== null) expect(text).toContain(m.expect.names);
        if (m.touched !== undefined)
          expect(m.touched.some((p) => text.includes(p) || text.includes('(document)'))).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});
