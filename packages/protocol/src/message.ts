/**
 * The transport-neutral message that every broker carries: an encoded body plus Celery's
 * headers and properties. Each broker maps it onto its own storage (the Redis envelope with a
 * base64 body, AMQP properties, an SQS body) and back.
 */

export interface MessageProperties {
  correlation_id?: string;
  reply_to?: string;
  /** 2 = persistent (tasks, control requests), 1 = transient (events, replies). */
  delivery_mode?: 1 | 2;
  /** Per-message time to live in milliseconds, as a string (AMQP's `expiration`). */
  expiration?: string;
  priority?: number;
  [property: string]: unknown;
}

export interface RawMessage {
  /** The serialized (and possibly compressed) payload. */
  body: Uint8Array;
  contentType: string;
  contentEncoding: string;
  headers: Record<string, unknown>;
  properties: MessageProperties;
}
