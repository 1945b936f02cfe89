/**
 * A read-only view of a request the worker holds, in the shape Celery's inspect commands report
 * (`active`, `reserved`, `scheduled`, `query_task`) and events carry.
 */
import type { DeliveryInfo } from '@tq/core';
import type { TaskMessage } from '@tq/protocol';

export interface RequestInfo {
  readonly id: string;
  readonly name: string;
  readonly message: TaskMessage;
  readonly deliveryInfo: DeliveryInfo;
  /** Epoch seconds when the task started, or null while waiting. */
  readonly timeStart: number | null;
  /** Whether the message has been acknowledged. */
  readonly acknowledged: boolean;
  /** The process running it (the worker's own pid for in-process pools). */
  readonly workerPid: number | null;
}

/**
 * Celery's request dict for inspect replies (`Request.info()`), plus the headers Flower shows.
 * With `safe`, args and kwargs are their repr strings, as Celery's `active(safe=True)`.
 */
export function requestDict(request: RequestInfo, hostname: string, safe = false): Record<string, unknown> {
  const { headers } = request.message;
  return {
    id: request.id,
    name: request.name,
    args: safe ? headers.argsrepr : request.message.args,
    kwargs: safe ? headers.kwargsrepr : request.message.kwargs,
    type: request.name,
    hostname,
    time_start: request.timeStart,
    acknowledged: request.acknowledged,
    delivery_info: {
      exchange: request.deliveryInfo.exchange,
      routing_key: request.deliveryInfo.routingKey,
      priority: request.deliveryInfo.priority,
      redelivered: request.deliveryInfo.redelivered,
    },
    worker_pid: request.workerPid,
    argsrepr: headers.argsrepr,
    kwargsrepr: headers.kwargsrepr,
    eta: headers.eta,
    expires: headers.expires,
    retries: headers.retries,
    root_id: headers.root_id,
    parent_id: headers.parent_id,
  };
}
