import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { NDArray, NumpyDtype, PickleError, PySlice, readPickle, readPickleAt } from '../../sdk/io/pickle';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
/** Concatenate opcodes given as strings (latin-1) and byte arrays. */
const ops = (...parts: (string | number[])[]) =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === 'string' ? [...Buffer.from(p, 'latin1')] : p)));

// The hex strings below are what CPython 3 / numpy 2.4 write for the Python expression in each comment
// (pickle.dumps(obj, protocol=p)); the tests themselves need no Python.

test('protocol 2: dict, list, tuple, ints (incl. LONG1 beyond 2^53), float, str, None, bool, bytes via _codecs', () => {
  // {'a': [1, 2.5, 'x', None, True], 'b': (1, -2, 300, 70000, 2**70, -2**70), 'c': b'\x00\xff'}, protocol 2
  const v = readPickle(
    hex(
      '80027d71002858010000006171015d7102284b0147400400000000000058010000007871034e88655801000000627104284b014afeffffff4d2c014a701101008a090000000000000000408a090000000000000000c07471055801000000637106635f636f646563730a656e636f64650a7107580300000000c3bf710858060000006c6174696e31710986710a52710b752e',
    ),
  );
  assert.deepEqual(v, { a: [1, 2.5, 'x', null, true], b: [1, -2, 300, 70000, 2n ** 70n, -(2n ** 70n)], c: new Uint8Array([0, 255]) });
});

test('protocol 4: OrderedDict with int keys (as strings), set and frozenset', () => {
  // OrderedDict([('w', 1), ('z', {0: 'MRI'})]), protocol 4
  assert.deepEqual(
    readPickle(hex('80049539000000000000008c0b636f6c6c656374696f6e73948c0b4f72646572656444696374949394295294288c0177944b018c017a947d944b008c034d52499473752e')),
    { w: 1, z: { '0': 'MRI' } },
  );
  assert.deepEqual(readPickle(hex('80049509000000000000008f94284b014b02902e')), new Set([1, 2])); // {1, 2}
  assert.deepEqual(readPickle(hex('8004950600000000000000284b0391942e')), new Set([3])); // frozenset({3})
});

test('numpy arrays: Fortran order float32 (protocol 2), float16, big-endian int64, bool', () => {
  // np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)), protocol 2 (numpy._core names, data via _codecs)
  const f = readPickle(
    hex(
      '8002636e756d70792e5f636f72652e6d756c746961727261790a5f7265636f6e7374727563740a7100636e756d70790a6e6461727261790a71014b00857102635f636f646563730a656e636f64650a7103580100000062710458060000006c6174696e317105867106527107877108527109284b014b024b0386710a636e756d70790a64747970650a710b58020000006634710c898887710d52710e284b0358010000003c710f4e4e4e4affffffff4affffffff4b0074711062886803581b00000000000000000040400000c2803f0000c28040000000400000c2a04071116805867112527113747114622e',
    ),
  ) as NDArray;
  assert.ok(f instanceof NDArray);
  assert.equal(f.dtype, '<f4');
  assert.deepEqual(f.shape, [2, 3]);
  assert.ok(f.data instanceof Float32Array);
  assert.deepEqual(Array.from(f.data as Float32Array), [0, 1, 2, 3, 4, 5], 'C order after reading Fortran data');
  assert.deepEqual(f.tolist(), [[0, 1, 2], [3, 4, 5]]);
  // np.array([[1.5, -2], [0.25, 65504]], dtype=np.float16), protocol 4
  const h = readPickle(
    hex(
      '80049593000000000000008c166e756d70792e5f636f72652e6d756c74696172726179948c0c5f7265636f6e7374727563749493948c056e756d7079948c076e6461727261799493944b0085944301629487945294284b014b024b02869468038c0564747970659493948c02663294898887945294284b038c013c944e4e4e4affffffff4affffffff4b00749462894308003e00c00034ff7b947494622e',
    ),
  ) as NDArray;
  assert.equal(h.dtype, '<f2');
  assert.deepEqual(Array.from(h.data as Float32Array), [1.5, -2, 0.25, 65504]);
  // np.array([1, -7, 2**40], dtype='>i8'), protocol 4
  const b = readPickle(
    hex(
      '800495a1000000000000008c166e756d70792e5f636f72652e6d756c74696172726179948c0c5f7265636f6e7374727563749493948c056e756d7079948c076e6461727261799493944b0085944301629487945294284b014b03859468038c0564747970659493948c02693894898887945294284b038c013e944e4e4e4affffffff4affffffff4b007494628943180000000000000001fffffffffffffff90000010000000000947494622e',
    ),
  ) as NDArray;
  assert.equal(b.dtype, '>i8');
  assert.deepEqual(Array.from(b.data as Float64Array), [1, -7, 2 ** 40]);
  // np.array([True, False, True]), protocol 3
  const t = readPickle(
    hex(
      '8003636e756d70792e5f636f72652e6d756c746961727261790a5f7265636f6e7374727563740a7100636e756d70790a6e6461727261790a71014b008571024301627103877104527105284b014b03857106636e756d70790a64747970650a7107580200000062317108898887710952710a284b0358010000007c710b4e4e4e4affffffff4affffffff4b0074710c62894303010001710d74710e622e',
    ),
  ) as NDArray;
  assert.deepEqual(t.tolist(), [true, false, true]);
});

test('numpy scalars (protocol 2 bytes through _codecs.encode): float64, int64, bool, float32', () => {
  // [np.float64(1.5), np.int64(7), np.bool_(True), np.float32(0.1)], protocol 2
  const v = readPickle(
    hex(
      '80025d710028636e756d70792e5f636f72652e6d756c746961727261790a7363616c61720a7101636e756d70790a64747970650a71025802000000663871038988877104527105284b0358010000003c71064e4e4e4affffffff4affffffff4b0074710762635f636f646563730a656e636f64650a71085809000000000000000000c3b83f710958060000006c6174696e31710a86710b52710c86710d52710e6801680258020000006938710f8988877110527111284b0368064e4e4e4affffffff4affffffff4b00747112626808580800000007000000000000007113680a86711452711586711652711768016802580200000062317118898887711952711a284b0358010000007c711b4e4e4e4affffffff4affffffff4b0074711c626808580100000001711d680a86711e52711f867120527121680168025802000000663471228988877123527124284b0368064e4e4e4affffffff4affffffff4b007471256268085807000000c38dc38cc38c3d7126680a86712752712886712952712a652e',
    ),
  ) as unknown[];
  assert.deepEqual(v, [1.5, 7, true, Math.fround(0.1)]);
});

test('hand-written opcodes: protocol 0 text forms, memo, DUP, slice, dtype object', () => {
  // (I42\nF0.5\nS'a\\x41'\nVh\\u00e9\nL12345678901234567890L\nt.
  const v = readPickle(ops("(I42\nF0.5\nS'a\\x41'\nVh\\u00e9\nL12345678901234567890L\nI01\nt."));
  assert.deepEqual(v, [42, 0.5, 'aA', 'hé', 12345678901234567890n, true]);
  // [x, x] through PUT/GET: the same list object twice
  const shared = readPickle(ops('(]p0\ng0\nl.')) as unknown[][];
  assert.equal(shared[0], shared[1]);
  // builtins.slice(1, 5, None)
  assert.deepEqual(readPickle(ops('cbuiltins\nslice\n(K\x01K\x05NtR.')), new PySlice(1, 5, null));
  // numpy.dtype('i4', False, True) with byte order '>'
  const dt = readPickle(ops('cnumpy\ndtype\n(X\x02\x00\x00\x00i4\x89\x88tR(K\x03X\x01\x00\x00\x00>NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb.')) as NumpyDtype;
  assert.ok(dt instanceof NumpyDtype);
  assert.equal(dt.str, '>i4');
});

test('a forbidden global is refused by name before anything is called (posix.system, os.system, builtins.eval)', () => {
  // pickle.dumps(os.system, protocol=2) and protocol=4
  for (const h of ['800263706f7369780a73797374656d0a71002e', '80049514000000000000008c05706f736978948c0673797374656d9493942e']) {
    assert.throws(() => readPickle(hex(h), { file: 'evil.pkl' }), (e: Error) => e instanceof PickleError && /evil\.pkl/.test(e.message) && /'posix\.system'/.test(e.message));
  }
  // the classic payload: os.system('touch /tmp/pwned') through REDUCE
  let called = false;
  const payload = ops("cos\nsystem\n(S'touch /tmp/nnunet_ts_pwned'\ntR.");
  assert.throws(() => readPickle(payload, { file: 'model.pkl', persistentLoad: () => (called = true) }), /model\.pkl: refusing global 'os\.system'/);
  assert.equal(called, false);
  assert.throws(() => readPickle(ops('\x80\x04\x8c\x08builtins\x8c\x04eval\x93X\x04\x00\x00\x001+1\x85R.')), /'builtins\.eval'/);
  // an allowed value-only global cannot be called
  assert.throws(() => readPickle(ops('ctorch\nFloatStorage\n)R.')), /allowed as a value but not as a callable/);
  // _codecs.encode only to latin-1
  assert.throws(() => readPickle(ops("c_codecs\nencode\n(X\x01\x00\x00\x00aX\x05\x00\x00\x00utf16tR.")), /_codecs\.encode is allowed only/);
});

test('truncated and corrupt input: errors name the file and the position', () => {
  const good = hex('80049539000000000000008c0b636f6c6c656374696f6e73948c0b4f72646572656444696374949394295294288c0177944b018c017a947d944b008c034d52499473752e');
  for (const cut of [1, 5, 20, good.length - 1]) {
    assert.throws(() => readPickle(good.subarray(0, cut), { file: 'plans.pkl' }), (e: Error) => e instanceof PickleError && /^plans\.pkl: truncated/.test(e.message));
  }
  assert.throws(() => readPickle(ops('\xff'), { file: 'x.pkl' }), /x\.pkl: unsupported opcode 0xff/);
  assert.throws(() => readPickle(ops('h\x05.'), { file: 'x.pkl' }), /memo key 5 was never stored/);
  assert.throws(() => readPickle(ops('N.N'), { file: 'x.pkl' }), /unexpected byte\(s\) after/);
  assert.throws(() => readPickle(ops('Q.')), /stack underflow/);
  assert.throws(() => readPickle(ops('N\x85Q.')), /no persistent-id loader/);
  // a '__proto__' key stays data
  const d = readPickle(ops('}X\x09\x00\x00\x00__proto__}X\x01\x00\x00\x00xK\x01ss.')) as Record<string, unknown>;
  assert.deepEqual(Object.getPrototypeOf(d), Object.prototype);
  assert.deepEqual(Object.getOwnPropertyDescriptor(d, '__proto__')?.value, { x: 1 });
});

test('readPickleAt reads consecutive pickles of a stream', () => {
  const two = ops('K\x07.', '\x80\x02X\x01\x00\x00\x00z.');
  const a = readPickleAt(two, 0);
  assert.equal(a.value, 7);
  const b = readPickleAt(two, a.end);
  assert.equal(b.value, 'z');
  assert.equal(b.end, two.length);
});

test('the official plans.pkl cut or corrupted anywhere: only PickleError, never another exception', () => {
  const fs = require('fs') as typeof import('fs');
  const path = require('path') as typeof import('path');
  const file = path.resolve(__dirname, '../../../shared/fixtures/official/checkpoints/Task004_Hippocampus_v1_2d/nnUNetTrainerV2__nnUNetPlansv2.1/plans.pkl');
  const good = new Uint8Array(fs.readFileSync(file));
  const plans = readPickle(good, { file }) as Record<string, unknown>;
  assert.equal(plans.num_classes, 2);
  let state = 12345;
  const rand = (n: number) => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state % n;
  };
  for (let i = 0; i < 150; i++) {
    const cut = rand(good.length - 1) + 1;
    assert.throws(() => readPickle(good.subarray(0, cut), { file }), (e: Error) => e instanceof PickleError && e.message.startsWith(file), `cut at ${cut}`);
  }
  for (let i = 0; i < 150; i++) {
    const bad = good.slice();
    const at = rand(bad.length);
    bad[at] = rand(256);
    try {
      readPickle(bad, { file });
    } catch (e) {
      assert.ok(e instanceof PickleError, `byte ${at} := ${bad[at]}: ${(e as Error).constructor.name}: ${(e as Error).message}`);
    }
  }
});
