// What every benchmark script shares: its command-line flags.
export const args = process.argv.slice(2);
/** Whether a flag such as --quick is present. */
export const flag = (name) => args.includes(name);
/** The value after an option such as --threads, or the default. */
export const option = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
