// The Dockerfile's builder stage, replayed without a Docker daemon: the build context that
// .dockerignore admits is copied into a scratch folder, then the stage's own WORKDIR, ENV, COPY
// and RUN instructions run there (the dummy-source dependency build, then the real one). A COPY
// line or a context entry that the build needs and lacks fails here, as it would in Docker.
//
// Cargo's output is kept between runs, so a repeat run rebuilds only the workspace's crates:
//   $BUILDER_REPLAY_DIR if set, else $CARGO_TARGET_DIR/../builder-replay (CI:
//   ~/.cache/logto-bookstore/builder-replay), else ~/.cache/logto-bookstore/builder-replay.
// Inside: context/ (the build context), rootfs/ (the image's /), target/ (cargo's output, linked
// as target/ in the builder's WORKDIR, where the Dockerfile expects it), last-run.log.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import { buildContext, copyBuildContext, dockerignoreMatcher, parseDockerfile, replayStage } from './docker-build.mjs';
import { readRepoFile, repoFile, root } from './helpers.mjs';

/** Where the replay keeps its scratch folders and cargo's output (see the top of this file). */
const replayDir = () => {
  if (process.env.BUILDER_REPLAY_DIR) return path.resolve(process.env.BUILDER_REPLAY_DIR);
  const home = path.join(os.homedir(), '.cache', 'logto-bookstore', 'builder-replay');
  const targetDir = process.env.CARGO_TARGET_DIR;
  if (!targetDir) return home;
  const nextToTarget = path.resolve(root, targetDir, '..', 'builder-replay');
  // Never inside the repository: cargo would read its .cargo/config.toml, which the context lacks.
  return path.relative(root, nextToTarget).startsWith('..') ? nextToTarget : home;
};

const scratchFolders = [];
after(() => {
  for (const folder of scratchFolders) rmSync(folder, { recursive: true, force: true });
});

/** A new folder under the system's temporary folder, removed when the tests end. */
const scratchFolder = (prefix) => {
  const folder = mkdtempSync(path.join(os.tmpdir(), prefix));
  scratchFolders.push(folder);
  return folder;
};

/** A throwaway folder holding `files` (path → text; a `{ symlink }` value makes a symlink). */
const scratchTree = (files) => {
  const dir = scratchFolder('builder-replay-');
  for (const [file, content] of Object.entries(files)) {
    const target = path.join(dir, file);
    mkdirSync(path.dirname(target), { recursive: true });
    if (typeof content === 'object') symlinkSync(content.symlink, target);
    else writeFileSync(target, content);
  }
  return dir;
};

/** Replays `dockerfile`'s first stage against a context made of `files`; returns the rootfs. */
const replaySmall = async (dockerfile, files, options = {}) => {
  const project = scratchTree({ Dockerfile: dockerfile, ...files });
  const scratch = scratchFolder('builder-replay-run-');
  const contextDir = path.join(scratch, 'context');
  const rootfs = path.join(scratch, 'rootfs');
  copyBuildContext(project, contextDir);
  const [stage] = parseDockerfile(dockerfile);
  await replayStage(stage, { contextDir, rootfs, logFile: path.join(scratch, 'log'), ...options });
  return rootfs;
};

describe('reading the Dockerfile', () => {
  test('joins continuations, drops comment lines inside them, and keeps stages apart', () => {
    const [first, second] = parseDockerfile(
      [
        'FROM rust:1 AS builder',
        'WORKDIR /build',
        'ENV A=1 \\',
        '    B="two words"',
        'RUN echo one \\',
        '# a comment inside the command',
        '    && echo two',
        'RUN ["/bin/echo", "exec form"]',
        'COPY --chmod=644 a b ./',
        'FROM scratch',
        'COPY --from=builder /build/app /app',
      ].join('\n'),
    );
    assert.equal(first.name, 'builder');
    assert.deepEqual(
      first.instructions.map((i) => i.keyword),
      ['WORKDIR', 'ENV', 'RUN', 'RUN', 'COPY'],
    );
    assert.deepEqual(first.instructions[1].properties, [
      ['A', '1'],
      ['B', 'two words'],
    ]);
    assert.equal(first.instructions[2].text.replace(/\s+/g, ' '), 'echo one && echo two');
    assert.equal(first.instructions[2].json, null);
    assert.deepEqual(first.instructions[3].json, ['/bin/echo', 'exec form']);
    assert.deepEqual(first.instructions[4].arguments, ['a', 'b', './']);
    assert.deepEqual(first.instructions[4].flags, { chmod: '644' });
    assert.equal(second.name, null);
    assert.deepEqual(second.instructions[0].flags, { from: 'builder' });
    assert.equal(second.instructions[0].args, '--from=builder /build/app /app');
  });

  test("the runtime stage takes its files from a stage of the Dockerfile's own", () => {
    const stages = parseDockerfile(readRepoFile('Dockerfile'));
    const names = stages.map((stage) => stage.name).filter(Boolean);
    const takenFrom = builderStages(stages).map((stage) => stage.name);
    assert.ok(takenFrom.length > 0);
    for (const name of takenFrom) assert.ok(names.includes(name));
  });
});

describe('.dockerignore, with Docker’s rules', () => {
  test('the last matching line wins, and a directory’s line covers what is under it', () => {
    const rules = dockerignoreMatcher('*\n!src\nsrc/secret\n!keep/me.txt\n**/target\n# comment\n\n');
    assert.equal(rules.ignores('README.md'), true);
    assert.equal(rules.ignores('src'), false);
    assert.equal(rules.ignores('src/main.rs'), false);
    assert.equal(rules.ignores('src/secret'), true);
    assert.equal(rules.ignores('src/secret/inner.txt'), true);
    assert.equal(rules.ignores('src/target/x'), true);
    assert.equal(rules.ignores('keep'), true);
    assert.equal(rules.ignores('keep/me.txt'), false);
    assert.equal(dockerignoreMatcher('a\n!a').ignores('a/x'), false);
    assert.equal(dockerignoreMatcher('!a\na').ignores('a/x'), true);
  });

  test('an ignored folder is looked into only when an exception may reach inside it', () => {
    const rules = dockerignoreMatcher('*\n!src\n!keep/me.txt\n!**/LICENSE');
    assert.equal(rules.mayReadmitUnder('keep'), true);
    assert.equal(rules.mayReadmitUnder('other'), true, '**/LICENSE may be anywhere');
    assert.equal(dockerignoreMatcher('*\n!src\n!keep/me.txt').mayReadmitUnder('other'), false);
    assert.equal(dockerignoreMatcher('*\n!src\n!keep/me.txt').mayReadmitUnder('src/deep'), false);
  });

  test('the context holds what the rules admit, symlinks as symlinks', () => {
    const project = scratchTree({
      '.dockerignore': '*\n!src\n!keep/me.txt\nsrc/secret.txt\n**/target\n',
      'README.md': 'no',
      'src/main.rs': 'fn main() {}',
      'src/secret.txt': 'no',
      'src/target/out': 'no',
      'src/LICENSE': { symlink: '../LICENSE' },
      'keep/me.txt': 'yes',
      'keep/not-me.txt': 'no',
    });
    assert.deepEqual(buildContext(project), ['keep/me.txt', 'src/', 'src/LICENSE', 'src/main.rs']);
  });

  test("this repository's context: the build inputs and nothing else", () => {
    const context = new Set(buildContext(root));
    for (const file of ['Cargo.toml', 'Cargo.lock', 'build.rs', 'src/main.rs', 'src/lib.rs', 'templates/base.html', 'static/style.css']) {
      assert.ok(context.has(file), `${file} is not in the context`);
    }
    for (const file of context) {
      assert.match(file, /^(Cargo\.toml|Cargo\.lock|build\.rs|(src|crates|templates|static)\/.*)$/, `${file} is in the context`);
      assert.doesNotMatch(file, /^crates\/[^/]+\/(tests|examples)\//, `${file} is in the context`);
    }
  });
});

describe('replaying a stage', () => {
  test('runs WORKDIR, ENV, COPY and RUN in the scratch folder', async () => {
    const rootfs = await replaySmall(
      [
        'FROM debian AS builder',
        'WORKDIR /work',
        'ENV GREETING="hello there"',
        'COPY one.txt two.txt ./',
        'COPY dir ./copied',
        'COPY dir/inner.txt nested/',
        'RUN cat one.txt two.txt copied/inner.txt nested/inner.txt > all.txt \\',
        '    && printf "%s" "$GREETING" > greeting.txt',
      ].join('\n'),
      { '.dockerignore': 'ignored.txt\n', 'one.txt': '1\n', 'two.txt': '2\n', 'dir/inner.txt': 'i\n', 'ignored.txt': 'x' },
    );
    assert.equal(readFileSync(path.join(rootfs, 'work/all.txt'), 'utf8'), '1\n2\ni\ni\n');
    assert.equal(readFileSync(path.join(rootfs, 'work/greeting.txt'), 'utf8'), 'hello there');
  });

  test('a COPY source that the context lacks fails, as in Docker', async () => {
    await assert.rejects(
      replaySmall('FROM debian\nWORKDIR /work\nCOPY ignored.txt ./', { '.dockerignore': 'ignored.txt\n', 'ignored.txt': 'x' }),
      /line 3: COPY ignored\.txt: not found in the build context/,
    );
  });

  test('a failing RUN fails with its line and output', async () => {
    await assert.rejects(
      replaySmall('FROM debian\nWORKDIR /work\nRUN echo "the reason" && false', {}),
      /line 3: RUN exited with 1:\nthe reason/,
    );
  });

  test('a RUN naming an absolute path is refused, not run on this machine', async () => {
    await assert.rejects(replaySmall('FROM debian\nWORKDIR /work\nRUN rm -rf /build', {}), /absolute path/);
  });

  test('an instruction the replay does not know fails instead of being skipped', async () => {
    await assert.rejects(replaySmall('FROM debian\nUSER nobody', {}), /line 2: USER is not replayed/);
  });

  test("the builder's COPY lines find every source in this repository's build context", async () => {
    const scratch = scratchFolder('builder-replay-copies-');
    copyBuildContext(root, path.join(scratch, 'context'));
    for (const stage of builderStages(parseDockerfile(readRepoFile('Dockerfile')))) {
      const copiesOnly = { ...stage, instructions: stage.instructions.filter((i) => ['WORKDIR', 'COPY'].includes(i.keyword)) };
      await replayStage(copiesOnly, { contextDir: path.join(scratch, 'context'), rootfs: path.join(scratch, stage.name), logFile: path.join(scratch, 'log') });
    }
  });
});

/** The stages whose files the last stage copies (`COPY --from=NAME`). */
const builderStages = (stages) => {
  const names = new Set(stages.at(-1).instructions.filter((i) => i.keyword === 'COPY' && i.flags.from).map((i) => i.flags.from));
  return stages.filter((stage) => names.has(stage.name));
};

// The runtime image's target is 40 MB and its base is about 23 MB (the Dockerfile's size note),
// so what the builder hands over may take 17 MB at most.
const MAX_BINARY_BYTES = 17_000_000;

describe('the builder stage, replayed', () => {
  test('builds the release binary from the build context alone', { timeout: 60 * 60_000 }, async (t) => {
    const dir = replayDir();
    const contextDir = path.join(dir, 'context');
    const logFile = path.join(dir, 'last-run.log');
    const cache = path.join(dir, 'target');
    rmSync(contextDir, { recursive: true, force: true });
    rmSync(path.join(dir, 'rootfs'), { recursive: true, force: true });
    rmSync(logFile, { force: true });
    mkdirSync(cache, { recursive: true });
    copyBuildContext(root, contextDir);

    const stages = parseDockerfile(readRepoFile('Dockerfile'));
    for (const stage of builderStages(stages)) {
      const rootfs = path.join(dir, 'rootfs', stage.name);
      const started = Date.now();
      await replayStage(stage, {
        contextDir,
        rootfs,
        logFile,
        // cargo writes to target/ in its workspace; the Dockerfile copies the binary from there.
        beforeRun: (workdir) => {
          if (!existsSync(path.join(workdir, 'target'))) symlinkSync(cache, path.join(workdir, 'target'));
        },
      });
      t.diagnostic(`stage ${stage.name} replayed in ${((Date.now() - started) / 1000).toFixed(0)} s (log: ${logFile})`);

      // What the runtime stage copies out of this one is there.
      for (const copy of stages.at(-1).instructions.filter((i) => i.keyword === 'COPY' && i.flags.from === stage.name)) {
        for (const source of copy.arguments.slice(0, -1)) {
          const file = path.join(rootfs, source);
          assert.ok(existsSync(file), `${source}, which the runtime stage copies, was not built`);
          const { size, mode } = statSync(file);
          assert.ok(mode & 0o111, `${source} is not executable`);
          t.diagnostic(`${source}: ${size.toLocaleString('en')} bytes`);
          assert.ok(
            size <= MAX_BINARY_BYTES,
            `${source} is ${size.toLocaleString('en')} bytes, over the ${MAX_BINARY_BYTES.toLocaleString('en')} that keep the runtime image under 40 MB (see the Dockerfile's size note)`,
          );
        }
      }
    }
  });
});
