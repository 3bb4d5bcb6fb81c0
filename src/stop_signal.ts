/** Resolves on the first SIGINT or SIGTERM, then stops listening for both. */
export function waitForStopSignal(): Promise<Deno.Signal> {
  return new Promise((resolve) => {
    const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
    const handlers = signals.map((signal) => {
      const handler = () => {
        for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
        resolve(signal);
      };
      Deno.addSignalListener(signal, handler);
      return [signal, handler] as const;
    });
  });
}
