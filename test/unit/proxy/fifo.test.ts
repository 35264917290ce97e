// Model-based tests of the ring-buffer FIFO against a plain array.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Fifo } from '../../../src/proxy/fifo.js';

test('Fifo behaves like an array queue under any sequence of pushes and shifts', () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.constant(-1)), { maxLength: 500 }),
      fc.integer({ min: 1, max: 40 }),
      (ops, capacity) => {
        const fifo = new Fifo<number>(capacity);
        const model: number[] = [];
        for (const op of ops) {
          if (op < 0) assert.equal(fifo.shift(), model.shift());
          else {
            fifo.push(op);
            model.push(op);
          }
          assert.equal(fifo.length, model.length);
          assert.equal(fifo.peek(), model[0]);
        }
        const rest: number[] = [];
        for (let item = fifo.shift(); item !== undefined; item = fifo.shift()) rest.push(item);
        assert.deepEqual(rest, model);
        assert.equal(fifo.length, 0);
        assert.equal(fifo.shift(), undefined);
      },
    ),
  );
});
