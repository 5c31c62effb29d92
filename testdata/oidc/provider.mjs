// A real OpenID Connect provider for Steward's single sign-on test: the certified
// oidc-provider package, with its development login and consent pages (any login name is
// accepted; the accounts below say who is who).
//
//   node provider.mjs PORT REDIRECT_URI CLIENT_SECRET
//
// Prints "ready" once it listens on 127.0.0.1:PORT.
import Provider from 'oidc-provider';

const [port, redirect, secret] = process.argv.slice(2);
const accounts = {
  ana: { sub: 'ana-0001', preferred_username: 'ana', groups: ['sre-leads'] },
  bo: { sub: 'bo-0002', preferred_username: 'bo', groups: ['sre'] },
  chen: { sub: 'chen-0003', preferred_username: 'chen', groups: ['sales'] },
  mallory: { sub: 'mallory-0004', preferred_username: 'mallory', groups: ['sre-leads'] },
};

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: 'steward',
    client_secret: secret,
    redirect_uris: [redirect],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  claims: { openid: ['sub'], profile: ['preferred_username', 'groups'] },
  // The ID token carries the profile claims itself.
  conformIdTokenClaims: false,
  async findAccount(ctx, id) {
    const account = accounts[id];
    return account && { accountId: id, claims: async () => account };
  },
  features: { devInteractions: { enabled: true } },
});
// Plain http on loopback: the provider is told its requests are not proxied.
provider.proxy = false;
provider.listen(Number(port), '127.0.0.1', () => console.log('ready'));
