/**
 * kombu's SQS naming: a queue (or SNS topic) name is `queue_name_prefix + name`, with `.` turned
 * into `-` and every other ASCII punctuation mark except `-` and `_` into `_`; a `.fifo` suffix
 * is kept as it is (SQS requires it on FIFO queues).
 */

const PUNCTUATION = '!"#$%&\'()*+,./:;<=>?@[\\]^`{|}~';

/** kombu's `entity_name`: an AMQP-style name made legal for SQS. */
export function entityName(name: string): string {
  const fifo = name.endsWith('.fifo');
  const stem = fifo ? name.slice(0, -'.fifo'.length) : name;
  let out = '';
  for (const ch of stem) out += ch === '.' ? '-' : PUNCTUATION.includes(ch) ? '_' : ch;
  return fifo ? `${out}.fifo` : out;
}

/** kombu's `canonical_queue_name`: prefix, then mangle. */
export function canonicalQueueName(prefix: string, name: string): string {
  return entityName(prefix + name);
}

export function isFifo(sqsName: string): boolean {
  return sqsName.endsWith('.fifo');
}

/** The queue name at the end of a queue URL or ARN. */
export function nameOfQueueUrl(urlOrArn: string): string {
  return urlOrArn.split(/[/:]/).at(-1) ?? urlOrArn;
}
