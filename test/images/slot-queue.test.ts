import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Admission } from '../../src/images/admission.js';

test('admits up to capacity, then queues in FIFO order', async () => {
  const admission = new Admission(2);
  await admission.acquire();
  await admission.acquire();
  assert.equal(admission.running, 2);
  const order: string[] = [];
  const a = admission.acquire().then(() => order.push('a'));
  const b = admission.acquire().then(() => order.push('b'));
  assert.equal(admission.queued, 2);
  admission.release();
  await a;
  assert.deepEqual(order, ['a']);
  assert.equal(admission.running, 2, 'the slot was handed over, not freed');
  admission.release();
  await b;
  assert.deepEqual(order, ['a', 'b']);
  admission.release();
  assert.equal(admission.running, 1);
  admission.release();
  assert.equal(admission.running, 0);
});

test('an aborted waiter leaves the queue with the signal reason and does not take a slot', async () => {
  const admission = new Admission(1);
  await admission.acquire();
  const controller = new AbortController();
  const waiting = admission.acquire(controller.signal);
  const next = admission.acquire();
  controller.abort(new Error('client went away'));
  await assert.rejects(waiting, /client went away/);
  assert.equal(admission.queued, 1);
  admission.release();
  await next; // the slot went to the next live waiter
  assert.equal(admission.running, 1);
});

test('an already aborted signal is refused at once', async () => {
  const admission = new Admission(4);
  await assert.rejects(admission.acquire(AbortSignal.abort(new Error('deadline'))), /deadline/);
  assert.equal(admission.running, 0);
});

test('close refuses waiters and later requests', async () => {
  const admission = new Admission(1);
  await admission.acquire();
  const waiting = admission.acquire();
  admission.close(new Error('shutting down'));
  await assert.rejects(waiting, /shutting down/);
  await assert.rejects(admission.acquire(), /shutting down/);
});
