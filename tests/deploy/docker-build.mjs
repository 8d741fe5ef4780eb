// The Docker build without Docker: the Dockerfile read into stages (dockerfile-ast), the build
// context that .dockerignore admits (@balena/dockerignore, Docker's matching rules), and a
// replay of one stage's WORKDIR, ENV, COPY and RUN instructions in a scratch folder.

import { spawn } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  createWriteStream,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import path from 'node:path';
import ignore from '@balena/dockerignore';
import { DockerfileParser } from 'dockerfile-ast';

/**
 * A Dockerfile's stages, in order: `{ from, name, instructions }`, each instruction
 * `{ keyword, args, text, arguments, flags, properties, json, line }`. `text` is the argument
 * text as Docker hands it on (continuations joined, comment lines dropped); `args` is the same
 * with whitespace collapsed, for comparisons. `json` is the exec form's strings, or null.
 */
export const parseDockerfile = (source) => {
  const dockerfile = DockerfileParser.parse(source);
  const stages = [];
  for (const instruction of dockerfile.getInstructions()) {
    const keyword = instruction.getKeyword().toUpperCase();
    const text = instruction.getArgumentsContent() ?? '';
    const flags = typeof instruction.getFlags === 'function' ? instruction.getFlags() : [];
    const entry = {
      keyword,
      text,
      args: [...flags.map((flag) => flag.toString()), text].join(' ').trim().replace(/\s+/g, ' '),
      arguments: instruction.getArguments().map((argument) => argument.getValue()),
      flags: Object.fromEntries(flags.map((flag) => [flag.getName(), flag.getValue()])),
      properties:
        typeof instruction.getProperties === 'function'
          ? instruction.getProperties().map((property) => [property.getName(), property.getValue() ?? ''])
          : [],
      json: execForm(text),
      line: instruction.getRange().start.line + 1,
    };
    if (keyword === 'FROM') {
      stages.push({ from: entry.args, name: instruction.getBuildStage(), instructions: [] });
    } else if (stages.length === 0) {
      if (keyword !== 'ARG') throw new Error(`Dockerfile line ${entry.line}: ${keyword} before the first FROM`);
    } else {
      stages.at(-1).instructions.push(entry);
    }
  }
  return stages;
};

/** Docker's exec form: the arguments are a JSON array of strings; anything else is shell form. */
const execForm = (text) => {
  if (!text.trim().startsWith('[')) return null;
  try {
    const parsed = JSON.parse(text);
    return Array.isArray(parsed) && parsed.every((part) => typeof part === 'string') ? parsed : null;
  } catch {
    return null;
  }
};

/**
 * Docker's .dockerignore rules as a predicate on context-relative paths (`/`-separated): the last
 * matching line wins, `!` lets a path back in, and a pattern that matches a directory matches
 * everything under it.
 */
export const dockerignoreMatcher = (source) => {
  const rules = source
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const matcher = ignore().add(rules);
  const exceptions = rules.filter((rule) => rule.startsWith('!')).map((rule) => rule.slice(1).replace(/^\/+/, ''));
  return {
    ignores: (file) => matcher.ignores(file),
    /**
     * Whether an `!` line might let back in something under an ignored directory, so the walk
     * has to look inside it (Docker looks inside in the same case). Errs towards yes.
     */
    mayReadmitUnder: (directory) => {
      const depth = directory.split('/').length;
      return exceptions.some((pattern) => {
        const parts = pattern.split('/').filter((part) => part !== '');
        if (parts.slice(0, depth).includes('**')) return true;
        if (parts.length <= depth) return false;
        return ignore().add(parts.slice(0, depth).join('/')).ignores(directory);
      });
    },
  };
};

/**
 * The build context of the folder `root`: every file, symlink and directory that its
 * .dockerignore admits, as sorted `/`-separated relative paths (directories end with `/`).
 */
export const buildContext = (root) => {
  const dockerignore = path.join(root, '.dockerignore');
  const rules = dockerignoreMatcher(existsSync(dockerignore) ? readFileSync(dockerignore, 'utf8') : '');
  const admitted = [];
  const walk = (relative) => {
    for (const entry of readdirSync(path.join(root, relative), { withFileTypes: true })) {
      const file = relative === '' ? entry.name : `${relative}/${entry.name}`;
      const ignored = rules.ignores(file);
      if (entry.isDirectory()) {
        if (!ignored) admitted.push(`${file}/`);
        if (!ignored || rules.mayReadmitUnder(file)) walk(file);
      } else if (!ignored) {
        admitted.push(file);
      }
    }
  };
  walk('');
  return admitted.sort();
};

/** Copies `root`'s build context (see buildContext) into the empty or new folder `destination`. */
export const copyBuildContext = (root, destination) => {
  mkdirSync(destination, { recursive: true });
  const entries = buildContext(root);
  for (const entry of entries) {
    const target = path.join(destination, entry);
    if (entry.endsWith('/')) {
      mkdirSync(target, { recursive: true });
      continue;
    }
    mkdirSync(path.dirname(target), { recursive: true });
    const source = path.join(root, entry);
    // Docker sends symlinks as they are; their targets come along only if admitted themselves.
    if (lstatSync(source).isSymbolicLink()) symlinkSync(readlinkSync(source), target);
    else copyFileSync(source, target);
  }
  return entries;
};

const hasGlob = (pattern) => /[*?[]/.test(pattern);

/** Go's filepath.Match, which COPY uses for its sources, for one `/`-separated path. */
const globRegex = (pattern) =>
  new RegExp(
    `^${pattern
      .split('/')
      .map((part) =>
        part
          .replace(/[.+^${}()|\\]/g, '\\$&')
          .replace(/\*/g, '[^/]*')
          .replace(/\?/g, '[^/]')
          .replace(/\[!/g, '[^'),
      )
      .join('/')}$`,
  );

/** COPY's source paths, resolved in the context folder (missing sources fail, as in Docker). */
const copySources = (contextDir, sources, line) =>
  sources.flatMap((source) => {
    const relative = path.posix.normalize(`/${source}`).slice(1).replace(/\/+$/, '');
    if (hasGlob(relative)) {
      const regex = globRegex(relative);
      const matches = buildContextOf(contextDir)
        .map((entry) => entry.replace(/\/$/, ''))
        .filter((entry) => regex.test(entry));
      if (matches.length === 0) throw new Error(`Dockerfile line ${line}: COPY ${source}: no match in the build context`);
      return matches.map((match) => path.join(contextDir, match));
    }
    const file = path.join(contextDir, relative);
    if (!existsSync(file) && !isSymlink(file)) {
      throw new Error(`Dockerfile line ${line}: COPY ${source}: not found in the build context`);
    }
    return [file];
  });

const isSymlink = (file) => {
  try {
    return lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
};

/** Every entry under a folder that already is a build context (no .dockerignore applies again). */
const buildContextOf = (folder) =>
  readdirSync(folder, { recursive: true, withFileTypes: true }).map((entry) =>
    path.relative(folder, path.join(entry.parentPath ?? entry.path, entry.name)).split(path.sep).join('/'),
  );

/**
 * Docker's COPY: directories copy their contents; a destination ending in `/` is a folder.
 * `--chmod`, `--chown` and `--link` are accepted and not applied: the replay runs as this user.
 */
const copyInstruction = (contextDir, destinationOf, instruction) => {
  const unsupported = Object.keys(instruction.flags).filter((flag) => !['chmod', 'chown', 'link'].includes(flag));
  if (unsupported.length > 0) {
    throw new Error(`Dockerfile line ${instruction.line}: COPY --${unsupported[0]} is not replayed (extend docker-build.mjs)`);
  }
  const parts = instruction.json ?? instruction.arguments;
  if (parts.some((part) => part.includes('$'))) {
    throw new Error(`Dockerfile line ${instruction.line}: variables in COPY are not replayed (extend docker-build.mjs)`);
  }
  const sources = parts.slice(0, -1);
  const destination = parts.at(-1);
  if (sources.length === 0) throw new Error(`Dockerfile line ${instruction.line}: COPY needs a source and a destination`);
  const files = copySources(contextDir, sources, instruction.line);
  const into = destination.endsWith('/');
  if (files.length > 1 && !into) {
    throw new Error(`Dockerfile line ${instruction.line}: COPY with several sources needs a destination ending in /`);
  }
  const target = destinationOf(destination);
  for (const file of files) {
    if (!isSymlink(file) && statSync(file).isDirectory()) {
      cpSync(file, target, { recursive: true, verbatimSymlinks: true });
      continue;
    }
    const landing = into || (existsSync(target) && statSync(target).isDirectory()) ? path.join(target, path.basename(file)) : target;
    mkdirSync(path.dirname(landing), { recursive: true });
    if (isSymlink(file)) symlinkSync(readlinkSync(file), landing);
    else copyFileSync(file, landing);
  }
};

/** Variables of this machine that the builder image does not have and that would change the build. */
const HOST_ONLY = ['CARGO_TARGET_DIR', 'CARGO_BUILD_TARGET_DIR', 'RUSTFLAGS', 'CARGO_ENCODED_RUSTFLAGS', 'RUSTC_WRAPPER'];

/**
 * Replays one stage in `rootfs` (the scratch folder that stands for the image's `/`), with the
 * build context in `contextDir`. RUN commands run on this machine with `/bin/sh -c`, in the
 * WORKDIR under `rootfs`, with the stage's ENV on top of this process's environment; so they must
 * use relative paths (an absolute path would reach outside the scratch folder, and is refused).
 * `beforeRun(workdir)` is called before each RUN; output is appended to `logFile`.
 */
export const replayStage = async (stage, { contextDir, rootfs, logFile, beforeRun = () => {} }) => {
  let workdir = '/';
  const env = { ...process.env };
  for (const name of HOST_ONLY) delete env[name];
  const inRootfs = (file) => path.join(rootfs, path.posix.resolve(workdir, file));
  const log = createWriteStream(logFile, { flags: 'a' });
  try {
    for (const instruction of stage.instructions) {
      switch (instruction.keyword) {
        case 'WORKDIR':
          if (instruction.text.includes('$')) {
            throw new Error(`Dockerfile line ${instruction.line}: variables in WORKDIR are not replayed`);
          }
          workdir = path.posix.resolve(workdir, instruction.text.trim());
          mkdirSync(inRootfs('.'), { recursive: true });
          break;
        case 'ENV':
        case 'ARG':
          for (const [name, value] of instruction.properties) if (value !== '' || instruction.keyword === 'ENV') env[name] = value;
          break;
        case 'COPY':
          copyInstruction(contextDir, inRootfs, instruction);
          break;
        case 'RUN': {
          // A cache mount only keeps files between builds, as the replay's cache does anyway.
          const flags = Object.entries(instruction.flags).filter(([name, value]) => !(name === 'mount' && /(^|,)type=cache(,|$)/.test(value)));
          if (flags.length > 0) {
            throw new Error(`Dockerfile line ${instruction.line}: RUN --${flags[0][0]} is not replayed (extend docker-build.mjs)`);
          }
          const command = instruction.json ?? ['/bin/sh', '-c', instruction.text];
          const absolute = command.slice(instruction.json ? 1 : 2).find((part) => /(^|[\s=:'"<>])\/[A-Za-z]/.test(part.replaceAll('/dev/null', '')));
          if (absolute !== undefined) {
            throw new Error(`Dockerfile line ${instruction.line}: RUN names an absolute path, which the replay would run outside its scratch folder: ${absolute}`);
          }
          beforeRun(inRootfs('.'));
          log.write(`\n==> Dockerfile line ${instruction.line}: RUN ${instruction.args}\n`);
          const { status, output } = await run(command, { cwd: inRootfs('.'), env, log });
          if (status !== 0) {
            const lastLines = output.split('\n').slice(-40).join('\n');
            throw new Error(`Dockerfile line ${instruction.line}: RUN exited with ${status}:\n${lastLines}`);
          }
          break;
        }
        case 'LABEL':
        case 'EXPOSE':
        case 'CMD':
        case 'ENTRYPOINT':
        case 'HEALTHCHECK':
        case 'STOPSIGNAL':
        case 'VOLUME':
          break; // image metadata: no effect on the files the stage builds
        default:
          throw new Error(`Dockerfile line ${instruction.line}: ${instruction.keyword} is not replayed (extend docker-build.mjs)`);
      }
    }
  } finally {
    await new Promise((resolve) => log.end(resolve));
  }
};

/** Runs a command to its end: its exit status (or signal) and its output's last 64 KiB. */
const run = (command, { cwd, env, log }) =>
  new Promise((resolve, reject) => {
    const child = spawn(command[0], command.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk) => {
      log.write(chunk);
      output = (output + chunk.toString()).slice(-65536);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ status: signal ?? code, output }));
  });
