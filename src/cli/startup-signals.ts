/**
 * Signals that arrive while run mode is still loading its code. Until a process installs a
 * handler, SIGHUP, SIGTTIN, SIGUSR1 and the rest keep their default action: the process dies
 * (or stops). twemproxy installs its handlers within a millisecond of starting; Walnut's run
 * mode needs its proxy modules loaded first, about 100 ms, during which a log rotation's
 * SIGHUP or a `systemctl reload` would kill it. cli.ts holds them from the moment it knows
 * it will run (what Node does before any JS runs cannot be covered), and run mode replays
 * them, in order, once its own handlers are in place.
 */

/** The signals run mode handles (run.ts installs a handler for each). */
export const RUN_MODE_SIGNALS: readonly NodeJS.Signals[] = [
  'SIGINT',
  'SIGTERM',
  'SIGHUP',
  'SIGTTIN',
  'SIGTTOU',
  'SIGUSR1',
  'SIGUSR2',
];

export interface HeldSignals {
  /**
   * Stop holding: remove the placeholder handlers and deliver what arrived meanwhile to the
   * handlers installed since (with no handler left, a signal's default action applies again,
   * also to one that came in just before release and had not reached the placeholder yet).
   */
  release(): void;
}

/**
 * For a signal that nothing handles after release: its default action, taken by removing the
 * last listener (Node then stops watching the signal) and raising it again.
 */
function defaultAction(name: NodeJS.Signals): void {
  process.removeListener(name, defaultAction);
  process.kill(process.pid, name);
}

/** Start holding RUN_MODE_SIGNALS. */
export function holdStartupSignals(): HeldSignals {
  const arrived: NodeJS.Signals[] = [];
  const note = (name: NodeJS.Signals): void => {
    arrived.push(name);
  };
  for (const name of RUN_MODE_SIGNALS) process.on(name, note);
  let released = false;
  return {
    release(): void {
      if (released) return;
      released = true;
      for (const name of RUN_MODE_SIGNALS) {
        // A signal may have come in without reaching `note` yet: Node hands it to JS on a
        // later turn of the event loop (release is called from synchronous code), to the
        // listeners present then. Removing the last one would drop it, so where no handler
        // was installed one stays that gives it its default action.
        if (process.listenerCount(name) === 1) process.on(name, defaultAction);
        process.removeListener(name, note);
      }
      for (const name of arrived) process.emit(name, name);
    },
  };
}
