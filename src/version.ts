/** callpay's version (package.json's): `--version`, the OpenAPI document. A test keeps the two equal. */
export const VERSION = '0.1.0';
