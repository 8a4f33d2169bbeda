import { userInfo } from 'node:os';

/** Printable, bounded: the environment is input like any other. */
function clean(name: string): string {
  return name.replace(/[^\w.@+-]/g, '?').slice(0, 64);
}

/**
 * Who runs this command, for the audit log: the OS user, and under sudo the user who called sudo
 * (SUDO_USER), since an operator team usually shares root on the appliance.
 */
export function operatorName(env: NodeJS.ProcessEnv): string {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = `uid ${process.getuid?.() ?? '?'}`;
  }
  const sudo = env.SUDO_USER;
  return clean(user) + (sudo && sudo !== user ? ` (sudo from ${clean(sudo)})` : '');
}
