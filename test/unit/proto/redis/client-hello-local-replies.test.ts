// CLIENT and HELLO requests the proxy answers itself, in the forms the request-parser table
// leaves out: wrong arities, refused values, HELLO's version, AUTH and SETNAME options. The
// error texts are redis-server's (checked against redis 7.0.15, except CLIENT SETINFO, which is
// redis 7.2's, and HELLO's AUTH without redis_auth, see there). Each stream is parsed whole,
// byte by byte and at random cuts, with the same result.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ROUTE_LOCAL } from '../../../../src/proto/message.js';
import { walnutVersion } from '../../../../src/version.js';
import { byteChunks, chunkings, parseRequests, req } from './redis-harness.js';

const HELLO_REPLY =
  `*12\r\n$6\r\nserver\r\n$6\r\nwalnut\r\n$7\r\nversion\r\n$${walnutVersion().length}\r\n${walnutVersion()}\r\n` +
  '$5\r\nproto\r\n:2\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n';

/** The local replies to `requests`, sent on one connection of a pool with `password`. */
function localReplies(requests: Buffer[], password: string | null = null): string[] {
  const input = Buffer.concat(requests);
  const runs = [[input], byteChunks(input), ...chunkings(input)];
  const results = runs.map((chunks) => {
    const { events } = parseRequests(chunks, password);
    return events.map((e) => {
      assert.ok(e.kind === 'req' && e.route === ROUTE_LOCAL, `answered by the proxy: ${JSON.stringify(e)}`);
      return e.reply ?? '';
    });
  });
  for (const r of results.slice(1)) assert.deepEqual(r, results[0], 'the same however the bytes arrive');
  return results[0]!;
}

describe('CLIENT subcommands answered by the proxy', () => {
  test('GETNAME and SETINFO with the wrong number of arguments', () => {
    assert.deepEqual(
      localReplies([req('CLIENT', 'GETNAME', 'x'), req('CLIENT', 'SETINFO', 'LIB-NAME'), req('CLIENT', 'SETINFO', 'LIB-NAME', 'a', 'b')]),
      [
        "-ERR wrong number of arguments for 'client|getname' command\r\n",
        "-ERR wrong number of arguments for 'client|setinfo' command\r\n",
        "-ERR wrong number of arguments for 'client|setinfo' command\r\n",
      ],
    );
  });

  test('SETINFO with a value that is not a plain word names the attribute as written', () => {
    assert.deepEqual(
      localReplies([req('CLIENT', 'SETINFO', 'lib-name', 'my lib'), req('CLIENT', 'SETINFO', 'LIB-VER', '1.0\n'), req('CLIENT', 'SETINFO', 'LIB-VER', '')]),
      [
        '-ERR lib-name cannot contain spaces, newlines or special characters.\r\n',
        '-ERR LIB-VER cannot contain spaces, newlines or special characters.\r\n',
        '+OK\r\n',
      ],
    );
  });
});

describe('HELLO answered by the proxy (RESP2 only)', () => {
  test('an empty or non-numeric version is not an integer; a number other than 2 is NOPROTO', () => {
    assert.deepEqual(localReplies([req('HELLO', ''), req('HELLO', '2x'), req('HELLO', '1'), req('HELLO', '1001')]), [
      '-ERR Protocol version is not an integer or out of range\r\n',
      '-ERR Protocol version is not an integer or out of range\r\n',
      '-NOPROTO unsupported protocol version\r\n',
      '-NOPROTO unsupported protocol version\r\n',
    ]);
  });

  test('what is an integer follows Redis (string2ll), checked against redis-server 7.0', () => {
    const BAD = '-ERR Protocol version is not an integer or out of range\r\n';
    const NOPROTO = '-NOPROTO unsupported protocol version\r\n';
    const cases: [string, string][] = [
      ['02', BAD], ['00', BAD], ['+2', BAD], ['-0', BAD], ['0', NOPROTO], ['-1', NOPROTO], ['100000', NOPROTO],
      ['9223372036854775807', NOPROTO], ['9223372036854775808', BAD],
      ['-9223372036854775808', NOPROTO], ['-9223372036854775809', BAD],
    ];
    assert.deepEqual(localReplies(cases.map(([v]) => req('HELLO', v))), cases.map(([, reply]) => reply));
  });

  test('AUTH in HELLO when the pool has no redis_auth: any password for default, as redis-server 7', () => {
    const replies = localReplies([req('HELLO', '2', 'AUTH', 'default', 'secret'), req('HELLO', '2', 'AUTH', 'alice', 'secret')]);
    assert.match(replies[0]!, /^\*12\r\n\$6\r\nserver\r\n/);
    assert.equal(replies[1], '-WRONGPASS invalid username-password pair or user is disabled.\r\n');
  });

  test('SETNAME in HELLO: a bad name is refused and changes nothing; an empty one clears the name', () => {
    assert.deepEqual(
      localReplies([
        req('CLIENT', 'SETNAME', 'first'),
        req('HELLO', '2', 'SETNAME', 'two words'),
        req('CLIENT', 'GETNAME'),
        req('HELLO', '2', 'SETNAME', ''),
        req('CLIENT', 'GETNAME'),
      ]),
      [
        '+OK\r\n',
        '-ERR Client names cannot contain spaces, newlines or special characters.\r\n',
        '$5\r\nfirst\r\n',
        HELLO_REPLY,
        '$-1\r\n',
      ],
    );
  });

  test('an option without its arguments is a syntax error, and a refused HELLO does not authenticate', () => {
    assert.deepEqual(
      localReplies(
        [
          req('HELLO', '2', 'AUTH', 'default'),
          req('HELLO', '2', 'SETNAME'),
          req('HELLO', '2', 'AUTH', 'default', 'pw', 'SETNAME', 'bad name'),
          req('PING'),
        ],
        'pw',
      ),
      [
        "-ERR Syntax error in HELLO option 'AUTH'\r\n",
        "-ERR Syntax error in HELLO option 'SETNAME'\r\n",
        '-ERR Client names cannot contain spaces, newlines or special characters.\r\n',
        '-NOAUTH Authentication required\r\n',
      ],
    );
  });
});
