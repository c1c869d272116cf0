import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SlotQueue } from '../../src/images/slot-queue.js';

test('admits up to capacity, then queues in FIFO order', async () => {
  const slots = new SlotQueue(2);
  await slots.acquire();
  await slots.acquire();
  assert.equal(slots.running, 2);
  const order: string[] = [];
  const a = slots.acquire().then(() => order.push('a'));
  const b = slots.acquire().then(() => order.push('b'));
  assert.equal(slots.queued, 2);
  slots.release();
  await a;
  assert.deepEqual(order, ['a']);
  assert.equal(slots.running, 2, 'the slot was handed over, not freed');
  slots.release();
  await b;
  assert.deepEqual(order, ['a', 'b']);
  slots.release();
  assert.equal(slots.running, 1);
  slots.release();
  assert.equal(slots.running, 0);
});

test('an aborted waiter leaves the queue with the signal reason and does not take a slot', async () => {
  const slots = new SlotQueue(1);
  await slots.acquire();
  const controller = new AbortController();
  const waiting = slots.acquire(controller.signal);
  const next = slots.acquire();
  controller.abort(new Error('client went away'));
  await assert.rejects(waiting, /client went away/);
  assert.equal(slots.queued, 1);
  slots.release();
  await next; // the slot went to the next live waiter
  assert.equal(slots.running, 1);
});

test('an already aborted signal is refused at once', async () => {
  const slots = new SlotQueue(4);
  await assert.rejects(slots.acquire(AbortSignal.abort(new Error('deadline'))), /deadline/);
  assert.equal(slots.running, 0);
});

test('close refuses waiters and later requests', async () => {
  const slots = new SlotQueue(1);
  await slots.acquire();
  const waiting = slots.acquire();
  slots.close(new Error('shutting down'));
  await assert.rejects(waiting, /shutting down/);
  await assert.rejects(slots.acquire(), /shutting down/);
});

test("a group's waiting tasks leave together on one abort listener, however many", async () => {
  const slots = new SlotQueue(2);
  const controller = new AbortController();
  let listeners = 0;
  const add = controller.signal.addEventListener.bind(controller.signal);
  controller.signal.addEventListener = ((...args: Parameters<AbortSignal['addEventListener']>) => {
    listeners++;
    add(...args);
  }) as AbortSignal['addEventListener'];
  const group = slots.acquireAll(64, controller.signal);
  await Promise.all(group.slice(0, 2));
  assert.equal(slots.queued, 62);
  assert.equal(listeners, 1, 'one listener for the 62 waiting tasks');
  const other = slots.acquire();
  controller.abort(new Error('client went away'));
  const outcomes = await Promise.allSettled(group.slice(2));
  assert.ok(outcomes.every((o) => o.status === 'rejected' && /client went away/.test(String(o.reason))));
  assert.equal(slots.queued, 1, "only the other request's task still waits");
  slots.release();
  await other;
  assert.equal(slots.running, 2);
});
