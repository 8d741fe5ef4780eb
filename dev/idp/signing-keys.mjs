// The IdP's signing keys, which tests may rotate and delete (test-controls.mjs) as an admin
// does in the Logto Console.

import { generateSigningKey } from './provider.mjs';

/** The signing keys (private JWKs), the one that signs first, as Logto lists them. */
export class SigningKeys {
  #keys;
  #onChange;

  /** `onChange(keys)` puts new keys to use, before the control that changed them answers. */
  static async generate(onChange) {
    const keys = new SigningKeys([await generateSigningKey()], onChange);
    await onChange(keys.all);
    return keys;
  }

  constructor(keys, onChange) {
    this.#keys = keys;
    this.#onChange = onChange;
  }

  get all() {
    return [...this.#keys];
  }

  get kids() {
    return this.#keys.map(({ kid }) => kid);
  }

  /** Logto's "rotate private keys": a new key signs, the previous ones stay for verification. */
  async rotate() {
    await this.#change([await generateSigningKey(), ...this.#keys]);
  }

  /** Deleting the previous key in the Logto Console: only the key that signs stays. */
  async deletePrevious() {
    await this.#change(this.#keys.slice(0, 1));
  }

  async #change(keys) {
    await this.#onChange(keys);
    this.#keys = keys;
  }
}
