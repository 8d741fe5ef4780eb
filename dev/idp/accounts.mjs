// The IdP's users, in memory: three seeded ones plus whoever uses "Create account".
// Their claims have Logto's shapes: snake_case, timestamps in milliseconds, null when unset.

import { randomBytes } from 'node:crypto';

/** The seeded users, printed at start. `origin` is where the IdP serves their avatars. */
export function seededUsers(origin) {
  return [
    {
      sub: 'user_alice',
      username: 'alice',
      password: 'alice-password',
      name: 'Alice Liddell',
      picture: `${origin}/avatars/alice.svg`,
      email: 'alice@example.com',
      phone: '+15555550100',
      roles: ['reader'],
      customData: { plan: 'pro' },
      organizations: ['org_bookclub'],
      // Logto writes an organization role as `<organization id>:<role name>`.
      organizationRoles: ['org_bookclub:member'],
      createdAt: Date.UTC(2024, 0, 15),
      updatedAt: Date.UTC(2024, 5, 1),
    },
    {
      sub: 'user_bob',
      username: 'bob',
      password: 'bob-password',
      name: 'Bob Builder',
      email: 'bob@example.com',
      roles: ['admin', 'reader'],
      createdAt: Date.UTC(2024, 2, 3),
    },
    {
      // No role, so no permission on the API: what a user without read:books sees.
      sub: 'user_carol',
      username: 'carol',
      password: 'carol-password',
      name: 'Carol Newcomer',
      email: 'carol@example.com',
      createdAt: Date.UTC(2024, 8, 9),
    },
  ];
}

export class Accounts {
  #byUsername = new Map();
  #byEmail = new Map();
  #bySub = new Map();

  constructor(users) {
    for (const user of users) this.#add(user);
  }

  /**
   * The user with these credentials, or undefined. The identifier is a username or, as Logto
   * allows when email sign-in is on, an email address.
   */
  authenticate(identifier, password) {
    const user = this.#byUsername.get(identifier) ?? this.#byEmail.get(identifier);
    return user?.password === password ? user : undefined;
  }

  /**
   * Adds a user and returns it, or undefined when the username is taken. The new user holds no
   * role: Logto assigns only the roles marked "default" at sign-up, and none is here.
   */
  register({ username, password, name }) {
    if (this.#byUsername.has(username)) return undefined;
    const sub = `user_${randomBytes(6).toString('hex')}`;
    return this.#add({ sub, username, password, name: name || null, createdAt: Date.now() });
  }

  /** The user's role names (outside organizations); none for an unknown subject. */
  roles(sub) {
    return this.#bySub.get(sub)?.roles ?? [];
  }

  /** The user's role names in an organization, or undefined when the user is not a member. */
  organizationRoles(sub, organizationId) {
    const user = this.#bySub.get(sub);
    if (!user?.organizations.includes(organizationId)) return undefined;
    const prefix = `${organizationId}:`;
    return user.organizationRoles
      .filter((role) => role.startsWith(prefix))
      .map((role) => role.slice(prefix.length));
  }

  /** oidc-provider's `findAccount`: the account behind a subject, or undefined. */
  async findAccount(sub) {
    const user = this.#bySub.get(sub);
    if (!user) return undefined;
    return {
      accountId: sub,
      // oidc-provider keeps only the claims that the granted scopes allow. As in Logto,
      // custom_data is served by the userinfo endpoint only, never put in the ID token.
      async claims(use) {
        const claims = claimsOf(user);
        if (use !== 'userinfo') delete claims.custom_data;
        return claims;
      },
    };
  }

  #add(user) {
    const complete = {
      name: null,
      picture: null,
      email: null,
      phone: null,
      roles: [],
      customData: {},
      organizations: [],
      organizationRoles: [],
      updatedAt: user.createdAt,
      ...user,
    };
    this.#byUsername.set(complete.username, complete);
    if (complete.email) this.#byEmail.set(complete.email, complete);
    this.#bySub.set(complete.sub, complete);
    return complete;
  }
}

function claimsOf(user) {
  return {
    sub: user.sub,
    name: user.name,
    username: user.username,
    picture: user.picture,
    created_at: user.createdAt,
    updated_at: user.updatedAt,
    email: user.email,
    // Logto keeps only verified addresses and numbers.
    email_verified: Boolean(user.email),
    phone_number: user.phone,
    phone_number_verified: Boolean(user.phone),
    custom_data: user.customData,
    roles: user.roles,
    organizations: user.organizations,
    organization_roles: user.organizationRoles,
  };
}
