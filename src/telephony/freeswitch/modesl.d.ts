/** The part of drachtio-modesl 1.3.1 (CommonJS, untyped) that esl.ts uses. */
declare module 'drachtio-modesl' {
  export class Event {
    getHeader(name: string): string | null;
    getBody(): string;
  }
  export class Connection {
    constructor(host: string, port: number, password: string, ready: () => void);
    closing?: boolean;
    socket: import('node:net').Socket | null;
    on(event: string, listener: (...args: unknown[]) => void): this;
    once(event: string, listener: (...args: unknown[]) => void): this;
    removeAllListeners(event?: string): this;
    sendRecv(command: string, args: Record<string, string> | null, cb: (evt: Event) => void): void;
    api(command: string, args: string[], cb: (evt: Event) => void): void;
    events(type: 'plain', events: string[], cb: (evt: Event) => void): void;
    disconnect(): void;
  }
  const modesl: { Connection: typeof Connection; Event: typeof Event };
  export default modesl;
}
