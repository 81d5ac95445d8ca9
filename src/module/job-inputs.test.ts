import { describe, expect, test } from 'vitest';
import { jobInputsOf, MAX_JOB_INPUTS } from './job-inputs.js';
import { renderModule } from './render.js';

const CID_A = 'bafybeigks6arfsq3xxfpvqrrwonchxcnu6do76auprhhfomao6c273sixm';
const CID_B = 'bafkreib6epubmabzlffdhckpmvsodmjuro6xuaei2qwevs3t52xnlhaatu';
const CID_V0 = 'QmbyV4BASLJCFiCfKz37eNwFX8y6hefQ7LGpzvEwJQzNft';

/** A module whose `Inputs` section is `inputs` (JSON, rendered with the template engine). */
const template = (inputs: string, key = 'Inputs') => `{
  "machine": {"gpu": 0, "cpu": 1000, "ram": 100},
  "job": {"APIVersion": "V1beta1", "Spec": {"Engine": "Wasm",
    "Wasm": {"EntryModule": {"CID": "bafkrei"}},
    "${key}": ${inputs}}}}`;

const render = (inputs: string, values: Record<string, string> = {}, key?: string) => renderModule('m', template(inputs, key), values);
const inputsOf = (inputs: string, values: Record<string, string> = {}, key?: string) => jobInputsOf(render(inputs, values, key), 'm', values);

describe('Spec.Inputs', () => {
  test('the Bacalhau V1beta1 shape, with the CID from a signed input', () => {
    const [input, ...rest] = inputsOf('[{"StorageSource": "IPFS", "CID": {{ .ImagesCID }}, "Path": "/inputs/images"}]', { ImagesCID: CID_A });
    expect(rest).toEqual([]);
    expect(input).toMatchObject({ label: 'ImagesCID', path: '/inputs/images', segments: ['images'], within: [] });
    expect(input!.cid.toString()).toBe(CID_A);
  });

  test('the original modules\' lowercase keys, a CIDv0, /inputs itself, and no StorageSource', () => {
    const inputs = inputsOf(`[{"storagesource": "ipfs", "cid": "${CID_V0}", "path": "/inputs"}]`, {}, 'inputs');
    expect(inputs).toHaveLength(1);
    expect(inputs[0]).toMatchObject({ path: '/inputs', segments: [] });
    expect(inputs[0]!.cid.toString()).toBe(CID_V0);
    expect(inputsOf(`[{"CID": "${CID_B}", "Path": "/inputs/b.txt"}]`)[0]!.segments).toEqual(['b.txt']);
  });

  test('a path inside a CID, also written /ipfs/<cid>/...; a trailing slash on Path is the same folder', () => {
    const [input] = inputsOf(`[{"CID": "/ipfs/${CID_A}/outputs/lora.safetensors", "Path": "/inputs/lora/"}]`);
    expect(input!.cid.toString()).toBe(CID_A);
    expect(input!.within).toEqual(['outputs', 'lora.safetensors']);
    expect(input!.segments).toEqual(['lora']);
  });

  test('several inputs side by side, each at its own path', () => {
    const inputs = inputsOf(`[{"CID": "${CID_A}", "Path": "/inputs/a"}, {"CID": "${CID_B}", "Path": "/inputs/ab"}, {"CID": "${CID_B}", "Path": "/inputs/b/c"}]`);
    expect(inputs.map((i) => i.path)).toEqual(['/inputs/a', '/inputs/ab', '/inputs/b/c']);
  });

  test('no Inputs is no inputs', () => {
    expect(inputsOf('[]')).toEqual([]);
  });
});

describe('bad inputs: one line each, naming the input, found when the module renders', () => {
  const bad = (inputs: string, values: Record<string, string> = {}) => () => render(inputs, values);

  test('a malformed CID', () => {
    expect(bad('[{"CID": {{ .ImagesCID }}, "Path": "/inputs/images"}]', { ImagesCID: 'not-a-cid' })).toThrow(
      /^module m: input ImagesCID: "not-a-cid" is not a CID/,
    );
    expect(bad(`[{"CID": "${CID_A.slice(0, -2)}", "Path": "/inputs/x"}]`)).toThrow(/input \/inputs\/x: .* is not a CID/);
  });

  test('a CID that is not UnixFS under sha2-256', () => {
    const dagCbor = 'bafyreigks6arfsq3xxfpvqrrwonchxcnu6do76auprhhfomao6c273sixm';
    expect(bad(`[{"Name": "data", "CID": "${dagCbor}", "Path": "/inputs/x"}]`)).toThrow(`module m: input data: CID ${dagCbor} is not UnixFS (its codec is 0x71)`);
    const blake3 = 'bafkr4ihkr4ld3m4gqkjf4reryxsy2s5tkbxprqkow6fin2iiyvreuzzab4';
    expect(bad(`[{"Name": "data", "CID": "${blake3}", "Path": "/inputs/x"}]`)).toThrow(/is not hashed with sha2-256/);
  });

  test('an empty CID (an input left unset), and a path inside a CID that climbs out', () => {
    expect(bad('[{"Name": "images", "CID": "", "Path": "/inputs/images"}]')).toThrow('module m: input images has no CID');
    expect(bad(`[{"CID": "${CID_A}/../x", "Path": "/inputs/x"}]`)).toThrow(/\.\." segment in its path inside the CID/);
  });

  test('a Path that is not under /inputs or tries to leave it', () => {
    for (const path of ['/inputs/../etc', '/etc/passwd', '/inputsx', 'inputs/a', '/inputs/a/../../etc', '/inputs//a', '/inputs/./a', '', '/', '/inputs/a\\..\\b']) {
      expect(bad(`[{"Name": "data", "CID": "${CID_A}", "Path": ${JSON.stringify(path)}}]`), path).toThrow(
        /^module m: input data has Path .*; a Path must be \/inputs or a path under it/,
      );
    }
    expect(bad(`[{"Name": "data", "CID": "${CID_A}"}]`)).toThrow(/input data has Path ""/);
  });

  test('two inputs at the same or nested paths', () => {
    expect(bad(`[{"CID": "${CID_A}", "Path": "/inputs/a"}, {"CID": "${CID_B}", "Path": "/inputs/a/"}]`)).toThrow(/overlap/);
    expect(bad(`[{"CID": "${CID_A}", "Path": "/inputs/a"}, {"CID": "${CID_B}", "Path": "/inputs/a/b"}]`)).toThrow(
      'module m: inputs /inputs/a (/inputs/a) and /inputs/a/b (/inputs/a/b) overlap',
    );
    expect(bad(`[{"CID": "${CID_A}", "Path": "/inputs"}, {"CID": "${CID_B}", "Path": "/inputs/b"}]`)).toThrow(/overlap/);
  });

  test('more inputs than a job may have', () => {
    const many = Array.from({ length: MAX_JOB_INPUTS + 1 }, (_, i) => `{"CID": "${CID_A}", "Path": "/inputs/${i}"}`);
    expect(bad(`[${many.join(',')}]`)).toThrow(`module m: names ${MAX_JOB_INPUTS + 1} inputs; a job may have at most ${MAX_JOB_INPUTS}`);
  });

  test('a source other than IPFS', () => {
    expect(bad('[{"StorageSource": "URLDownload", "URL": "https://example.com/x", "Path": "/inputs/x"}]')).toThrow(
      /StorageSource "URLDownload"; only IPFS inputs/,
    );
  });
});
