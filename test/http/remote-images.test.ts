/**
 * Remote image URLs (TOKLIP_ALLOW_URLS). The address policy and the URL policy are tested as
 * units. The fetch path (pinned connection, no redirects, timeouts, byte caps) is tested against
 * a local plain-http server, which needs the two test-only overrides of createRemoteImageFetcher
 * (unsafeAllowHttp, unsafeAllowPrivateAddresses): an https server would need certificates this
 * test does not have, and a local server is a loopback address, which the real policy refuses.
 * Without the overrides, the same fetcher refuses that server, which is tested too.
 */
import assert from 'node:assert/strict';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { type Server as NetServer, createServer as createNetServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ServiceError } from '../../src/errors.js';
import { classifyAddress } from '../../src/http/remote-images/address-policy.js';
import { ByteBudget, type RemoteImageOptions, type ResolvedAddress, createRemoteImageFetcher } from '../../src/http/remote-images/fetch-image.js';
import { readImageStrings } from '../../src/http/inputs/images.js';
import { checkImageUrl, hostAllowed } from '../../src/http/remote-images/url-policy.js';
import type { RunningServer } from '../../src/http/server.js';
import { loadGolden } from '../helpers/golden.js';
import { postJson, startTestServer } from '../helpers/server.js';

function listen(server: Server | NetServer): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

async function rejectsWith(promise: Promise<unknown>, code: string, detail: RegExp): Promise<void> {
  const error = await promise.then(
    () => assert.fail('expected a refusal'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ServiceError, String(error));
  assert.equal(error.code, code, error.message);
  assert.match(error.message, detail);
}

describe('address policy', () => {
  it('allows global unicast only', () => {
    for (const address of ['93.184.216.34', '8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '2a00:1450:4001:80b::200e']) {
      assert.deepEqual(classifyAddress(address), { allowed: true, range: 'unicast' }, address);
    }
    const refused: [string, string][] = [
      ['127.0.0.1', 'loopback'],
      ['127.255.255.254', 'loopback'],
      ['10.1.2.3', 'private'],
      ['172.16.0.1', 'private'],
      ['172.31.255.255', 'private'],
      ['192.168.1.1', 'private'],
      ['169.254.169.254', 'linkLocal'],
      ['100.64.0.1', 'carrierGradeNat'],
      ['0.0.0.0', 'unspecified'],
      ['255.255.255.255', 'broadcast'],
      ['224.0.0.251', 'multicast'],
      ['192.0.2.10', 'reserved'],
      ['198.18.0.1', 'reserved'],
      ['240.0.0.1', 'reserved'],
      ['::1', 'loopback'],
      ['::', 'unspecified'],
      ['fe80::1', 'linkLocal'],
      ['fc00::1', 'uniqueLocal'],
      ['fd12:3456:789a::1', 'uniqueLocal'],
      ['ff02::1', 'multicast'],
      ['::ffff:127.0.0.1', 'ipv4Mapped'],
      ['::ffff:169.254.169.254', 'ipv4Mapped'],
      ['::ffff:8.8.8.8', 'ipv4Mapped'],
      ['::127.0.0.1', 'ipv4Mapped'], // ipaddr.js reads the dotted tail as IPv4-mapped
      ['::7f00:1', 'ipv4Compatible'],
      ['::a9fe:a9fe', 'ipv4Compatible'],
      ['64:ff9b::a9fe:a9fe', 'rfc6052'],
      ['2002:a9fe:a9fe::1', '6to4'],
      ['2001::1', 'teredo'],
      ['2001:db8::1', 'reserved'],
      ['not-an-address', 'invalid'],
    ];
    for (const [address, range] of refused) assert.deepEqual(classifyAddress(address), { allowed: false, range }, address);
  });
});

describe('URL policy', () => {
  const policy = { allowedHosts: ['images.example.com', '*.cdn.example.org'] };

  it('accepts https URLs of allow-listed hosts', () => {
    for (const text of ['https://images.example.com/a.png?x=1', 'https://IMAGES.Example.COM./a.png', 'https://x.cdn.example.org/a', 'https://a.b.cdn.example.org/a']) {
      assert.ok(checkImageUrl(text, 0, policy) instanceof URL, text);
    }
    assert.ok(hostAllowed('anything.example', ['*']));
  });

  it('refuses other schemes, credentials, ports, hosts off the list and malformed URLs, naming the rule', () => {
    const cases: [string, RegExp][] = [
      ['http://images.example.com/a.png', /scheme 'http' is not allowed; image URLs must be https/],
      ['ftp://images.example.com/a.png', /scheme 'ftp'/],
      ['file:///etc/passwd', /scheme 'file'/],
      ['gopher://images.example.com:70/_x', /scheme 'gopher'/],
      ['https://user:secret@images.example.com/a.png', /credentials/],
      ['https://images.example.com:8443/a.png', /port 8443 is not allowed/],
      ['https://cdn.example.org/a.png', /host 'cdn.example.org' is not on this server's allow-list/],
      ['https://images.example.com.evil.test/a.png', /not on this server's allow-list/],
      ['https://evilcdn.example.org/a.png', /not on this server's allow-list/],
      ['https://169.254.169.254/latest/meta-data/', /host '169.254.169.254' is not on/],
      ['https://[::1]/a.png', /not on this server's allow-list/],
      ['https://', /is not a valid URL/],
    ];
    for (const [text, detail] of cases) {
      assert.throws(() => checkImageUrl(text, 3, policy), (e: unknown) => {
        assert.ok(e instanceof ServiceError);
        assert.equal(e.code, 'url_not_allowed');
        assert.deepEqual(e.extensions.position, { row: 3 });
        assert.match(e.message, /^images\[3\]: /);
        assert.match(e.message, detail);
        return true;
      }, text);
    }
  });

  it('numeric spellings of addresses become plain addresses (then the address policy decides)', () => {
    for (const text of ['https://0177.0.0.1/', 'https://2130706433/', 'https://0x7f.1/']) {
      assert.equal(checkImageUrl(text, 0, { allowedHosts: ['*'] }).hostname, '127.0.0.1', text);
    }
  });
});

describe('fetching image URLs', () => {
  let png: Buffer;
  let http: Server;
  let port: number;
  let silentTls: NetServer;
  let silentTlsPort: number;
  const seen: { path: string; host: string | undefined }[] = [];

  before(async () => {
    png = (await loadGolden()).images[0]!;
    http = createServer((req: IncomingMessage, res: ServerResponse) => {
      seen.push({ path: req.url ?? '', host: req.headers.host });
      switch (req.url) {
        case '/ok.png':
          res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length }).end(png);
          return;
        case '/chunked.png':
          res.writeHead(200, { 'content-type': 'image/png' });
          res.write(png.subarray(0, 100));
          res.end(png.subarray(100));
          return;
        case '/redirect':
          res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
          return;
        case '/big':
          res.writeHead(200, { 'content-type': 'image/png' });
          for (let i = 0; i < 40; i++) res.write(Buffer.alloc(64 * 1024));
          res.end();
          return;
        case '/half-mib':
          // 512 KiB in 64 KiB chunks, no declared length: only the bytes as they arrive tell its size.
          res.writeHead(200, { 'content-type': 'image/png' });
          for (let i = 0; i < 8; i++) res.write(Buffer.alloc(64 * 1024, i));
          res.end();
          return;
        case '/big-declared':
          res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(100 * 2 ** 20) });
          res.write(png);
          return; // never ends: the declared size alone is refused
        case '/stall-headers':
          return; // never answers
        case '/stall-body':
          res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length });
          res.write(png.subarray(0, 10));
          return; // never finishes
        default:
          res.writeHead(404).end('not found');
      }
    });
    port = await listen(http);
    // Accepts TCP connections but never speaks TLS: an https connection to it never completes.
    silentTls = createNetServer(() => {});
    silentTlsPort = await listen(silentTls);
  });
  after(() => {
    http.closeAllConnections();
    http.close();
    silentTls.close();
  });

  const testOnly = (overrides: Partial<RemoteImageOptions> = {}) =>
    createRemoteImageFetcher({
      policy: { allowedHosts: ['127.0.0.1', 'pinned.test', 'images.test', 'mixed.test'], unsafeAllowHttp: true },
      maxBytes: 2 ** 20,
      connectTimeoutMs: 300,
      timeoutMs: 1500,
      unsafeAllowPrivateAddresses: true,
      ...overrides,
    });
  const budget = () => new ByteBudget(8 * 2 ** 20);
  const base = () => `http://127.0.0.1:${port}`;

  it('downloads an image, with or without a declared length, and charges the request budget', async () => {
    const b = budget();
    assert.deepEqual(await testOnly().fetch(`${base()}/ok.png`, 0, b), png);
    assert.deepEqual(await testOnly().fetch(`${base()}/chunked.png`, 0, b), png);
    assert.equal(b.remaining, b.total - 2 * png.length);
  });

  it('the real policy refuses the loopback server before connecting', async () => {
    const before = seen.length;
    await rejectsWith(testOnly({ unsafeAllowPrivateAddresses: false }).fetch(`${base()}/ok.png`, 1, budget()), 'url_not_allowed', /^images\[1\]: host '127.0.0.1' resolves to 127.0.0.1 \(loopback\); only public addresses are fetched/);
    assert.equal(seen.length, before, 'no request reached the server');
  });

  it('a name is refused when any of its addresses is not public', async () => {
    const resolve = async (host: string): Promise<ResolvedAddress[]> =>
      host === 'mixed.test' ? [{ address: '93.184.216.34', family: 4 }, { address: '10.0.0.7', family: 4 }] : [{ address: '169.254.169.254', family: 4 }];
    const fetcher = testOnly({ unsafeAllowPrivateAddresses: false, resolve });
    await rejectsWith(fetcher.fetch(`http://mixed.test:${port}/ok.png`, 0, budget()), 'url_not_allowed', /resolves to 10.0.0.7 \(private\)/);
    await rejectsWith(fetcher.fetch(`http://images.test:${port}/ok.png`, 0, budget()), 'url_not_allowed', /resolves to 169.254.169.254 \(linkLocal\)/);
    const failing = testOnly({ resolve: async () => Promise.reject(new Error('ENOTFOUND')) });
    await rejectsWith(failing.fetch(`http://images.test:${port}/ok.png`, 0, budget()), 'url_fetch_failed', /host 'images.test' could not be resolved \(ENOTFOUND\)/);
  });

  it('the connection goes to the one address that was checked (resolved once, pinned)', async () => {
    let lookups = 0;
    const resolve = async (): Promise<ResolvedAddress[]> => {
      lookups++;
      return [{ address: '127.0.0.1', family: 4 }];
    };
    // pinned.test exists in no DNS: the bytes can only come through the pinned address.
    const bytes = await testOnly({ resolve }).fetch(`http://pinned.test:${port}/ok.png`, 0, budget());
    assert.deepEqual(bytes, png);
    assert.equal(lookups, 1);
    assert.equal(seen.at(-1)!.host, `pinned.test:${port}`, 'the Host header names the URL host');
  });

  it('does not follow redirects', async () => {
    const before = seen.length;
    await rejectsWith(testOnly().fetch(`${base()}/redirect`, 0, budget()), 'url_fetch_failed', /answered 302 \(a redirect to http:\/\/169.254.169.254\/latest\/meta-data\/\); redirects are not followed/);
    assert.deepEqual(seen.slice(before).map((s) => s.path), ['/redirect']);
  });

  it('other statuses, refused connections and byte caps are clear refusals', async () => {
    await rejectsWith(testOnly().fetch(`${base()}/missing`, 0, budget()), 'url_fetch_failed', /the server answered 404/);
    await rejectsWith(testOnly().fetch(`${base()}/big`, 0, budget()), 'payload_too_large', /the image at this URL exceeds the limit of 1048576 bytes \(1 MiB\)/);
    await rejectsWith(testOnly().fetch(`${base()}/big-declared`, 0, budget()), 'payload_too_large', /exceeds the limit of 1048576 bytes/);
    const small = new ByteBudget(png.length + 10);
    await testOnly().fetch(`${base()}/ok.png`, 0, small);
    await rejectsWith(testOnly().fetch(`${base()}/ok.png`, 1, small), 'payload_too_large', /images\[1\]: the images downloaded for this request exceed the request body limit/);
    const closed = createNetServer();
    const closedPort = await listen(closed);
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await rejectsWith(testOnly().fetch(`http://127.0.0.1:${closedPort}/a.png`, 0, budget()), 'url_fetch_failed', /the connection was refused/);
  });

  it('parallel downloads share one byte budget, charged as bytes arrive', async () => {
    // 8 URLs of 512 KiB each (under the 1 MiB cap per image), downloaded at once against a
    // 1 MiB request budget: each fits the budget as it starts, together they do not.
    const urls = Array.from({ length: 8 }, () => `${base()}/half-mib`);
    const fetcher = testOnly();
    const charged = new ByteBudget(2 ** 20);
    await rejectsWith(
      Promise.all(urls.map((url, row) => fetcher.fetch(url, row, charged))),
      'payload_too_large',
      /the images downloaded for this request exceed the request body limit of 1048576 bytes/,
    );
    assert.ok(charged.remaining >= 0 && charged.remaining < 64 * 1024, `the budget is spent but never overdrawn (${charged.remaining} bytes left)`);
    // Through the request path: the first refusal cancels the other downloads.
    await rejectsWith(readImageStrings(urls, fetcher, 2 ** 20), 'payload_too_large', /exceed the request body limit/);
    // Two of them fit.
    const two = await readImageStrings(urls.slice(0, 2), fetcher, 2 ** 20);
    assert.deepEqual(two.map((b) => b.length), [512 * 1024, 512 * 1024]);
  });

  it('connect and download timeouts', async () => {
    await rejectsWith(testOnly().fetch(`https://127.0.0.1:${silentTlsPort}/a.png`, 0, budget()), 'url_fetch_failed', /could not connect within 300 ms/);
    await rejectsWith(testOnly().fetch(`${base()}/stall-headers`, 0, budget()), 'url_fetch_failed', /did not finish within 1500 ms/);
    await rejectsWith(testOnly().fetch(`${base()}/stall-body`, 0, budget()), 'url_fetch_failed', /did not finish within 1500 ms/);
  });
});

describe('image URLs through the service', () => {
  let local: Server;
  let port: number;
  let withFetcher: RunningServer;
  let fromConfig: RunningServer;

  before(async () => {
    const golden = await loadGolden();
    local = createServer((req, res) => {
      const index = Number(/^\/image_(\d)\.png$/.exec(req.url ?? '')?.[1] ?? -1);
      if (index >= 0 && index < golden.images.length) res.writeHead(200, { 'content-type': 'image/png' }).end(golden.images[index]);
      else res.writeHead(404).end();
    });
    port = await listen(local);
    const env = { TOKLIP_ALLOW_URLS: 'true', TOKLIP_URL_ALLOWED_HOSTS: '127.0.0.1' };
    withFetcher = await startTestServer(env, {
      remoteImages: createRemoteImageFetcher({
        policy: { allowedHosts: ['127.0.0.1'], unsafeAllowHttp: true },
        maxBytes: 2 ** 20,
        connectTimeoutMs: 1000,
        timeoutMs: 5000,
        unsafeAllowPrivateAddresses: true,
      }),
    });
    // The fetcher the configuration makes: the real policy.
    fromConfig = await startTestServer({ TOKLIP_ALLOW_URLS: 'true', TOKLIP_URL_ALLOWED_HOSTS: '*' });
  });
  after(async () => {
    local.closeAllConnections();
    local.close();
    await Promise.all([withFetcher.close(), fromConfig.close()]);
  });

  it('URLs and base64 mix in one request and give the golden ids', async () => {
    const golden = await loadGolden();
    const res = await postJson(`${withFetcher.url}/v1/tokenize`, {
      images: [`http://127.0.0.1:${port}/image_0.png`, golden.images[1]!.toString('base64'), `http://127.0.0.1:${port}/image_2.png`],
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.tokens, await golden.rows('ids'));
    const missing = await postJson(`${withFetcher.url}/v1/encode`, { images: [golden.images[0]!.toString('base64'), `http://127.0.0.1:${port}/nothing.png`] });
    assert.equal(missing.status, 422);
    assert.equal(missing.json.code, 'url_fetch_failed');
    assert.deepEqual(missing.json.position, { row: 1 });
  });

  it('with the configured policy, metadata addresses, http and other schemes are refused', async () => {
    const cases: [string, RegExp][] = [
      ['https://169.254.169.254/latest/meta-data/', /resolves to 169.254.169.254 \(linkLocal\)/],
      ['https://[fd00:ec2::254]/latest/meta-data/', /\(uniqueLocal\)/],
      ['https://0x7f000001/', /resolves to 127.0.0.1 \(loopback\)/],
      [`http://127.0.0.1:${port}/image_0.png`, /scheme 'http' is not allowed/],
      ['file:///etc/passwd', /scheme 'file' is not allowed/],
    ];
    for (const [url, detail] of cases) {
      const res = await postJson(`${fromConfig.url}/v1/tokenize`, { images: [url] });
      assert.equal(res.status, 422, url);
      assert.equal(res.json.code, 'url_not_allowed');
      assert.match(res.json.detail, detail);
    }
  });
});
