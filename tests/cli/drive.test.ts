/** `--drive`: the frames of a driving video (through ffmpeg) or of a folder of images, in name order. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { driveFrames } from '../../src/cli/main';

const dir = mkdtempSync(join(tmpdir(), 'flap-drive-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('--drive frames', () => {
  it('[node] reads a folder of frames in name order and skips other files', async () => {
    const folder = join(dir, 'frames');
    execFileSync('mkdir', ['-p', folder]);
    writeFileSync(join(folder, 'b.png'), Uint8Array.of(2));
    writeFileSync(join(folder, 'a.jpg'), Uint8Array.of(1));
    writeFileSync(join(folder, 'notes.txt'), 'x');
    const frames = await driveFrames(folder);
    expect(frames.map((f) => f[0])).toEqual([1, 2]);
  });

  it('[node] extracts a video at 25 fps with ffmpeg', async () => {
    const video = join(dir, 'clip.webm');
    execFileSync('ffmpeg', ['-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=64x64:rate=50:duration=0.4', '-c:v', 'libvpx-vp9', video]);
    const frames = await driveFrames(video);
    expect(frames.length).toBe(10);
    expect(Array.from(frames[0]!.subarray(1, 4), (c) => String.fromCharCode(c)).join('')).toBe('PNG');
  });

  it('[node] refuses a missing path, an empty folder and a file that is no video', async () => {
    await expect(driveFrames(join(dir, 'nothing'))).rejects.toThrow(/no such file/);
    const empty = join(dir, 'empty');
    execFileSync('mkdir', ['-p', empty]);
    await expect(driveFrames(empty)).rejects.toThrow(/no frames/);
    const junk = join(dir, 'junk.mp4');
    writeFileSync(junk, 'not a video');
    await expect(driveFrames(junk)).rejects.toThrow(/ffmpeg could not read it/);
  });
});
