/** Time is passed in, never read from a global, so tests and replays control it. */
export type Clock = () => Date;
export const systemClock: Clock = () => new Date();
