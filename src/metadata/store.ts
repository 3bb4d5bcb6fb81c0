/**
 * The mutable holder of a metadata app's static values: updates replace the values and wake
 * `wait_for_change` requests.
 * @module
 */
import { ChangeFeed } from "./change_wait.ts";
import type { VmValues } from "./vm_tree.ts";

/** Current values plus the feed that announces their changes. */
export class MetadataStore {
  #values: VmValues;
  /** Notified after every update. */
  readonly feed: ChangeFeed = new ChangeFeed();

  constructor(values: VmValues) {
    this.#values = values;
  }

  /** The current values. */
  get values(): VmValues {
    return this.#values;
  }

  /** Replaces the values with `change(current)` and wakes waiters. */
  update(change: (current: VmValues) => VmValues): void {
    this.#values = change(this.#values);
    this.feed.notify();
  }
}
