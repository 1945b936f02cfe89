import { defineProject } from 'vitest/config';
import { projectDefaults } from '../../../vitest.shared.ts';

export default defineProject(
  projectDefaults('broker-amqp', {
    // One of these tests restarts RabbitMQ: run after the other packages' tests (and the
    // package's own test files take turns, see lockRabbit in test/helpers.ts).
    sequence: { groupOrder: 1 },
  }),
);
