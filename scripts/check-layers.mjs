#!/usr/bin/env node
// Checks src/ against scripts/layers.mjs: every relative import (static, re-export, dynamic,
// type-only included) must go to an allowed folder, and no file may reach itself through its
// imports (file-level cycles). Exit 1 with one line per problem. `node scripts/check-layers.mjs [ROOT]`.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { KNOWN_BREAKS, KNOWN_CYCLES, LAYERS } from './layers.mjs';

function listTs(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listTs(p));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Relative imports of one file: `{ spec, typeOnly }`. */
export function importsOf(file, text) {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, false, ts.ScriptKind.TS);
  const out = [];
  const visit = (node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const typeOnly = ts.isImportDeclaration(node)
        ? Boolean(node.importClause?.isTypeOnly) ||
          Boolean(node.importClause && !node.importClause.name && node.importClause.namedBindings && ts.isNamedImports(node.importClause.namedBindings) && node.importClause.namedBindings.elements.length > 0 && node.importClause.namedBindings.elements.every((e) => e.isTypeOnly))
        : node.isTypeOnly;
      out.push({ spec: node.moduleSpecifier.text, typeOnly });
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
      out.push({ spec: node.arguments[0].text, typeOnly: false });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      out.push({ spec: node.argument.literal.text, typeOnly: true });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out.filter((i) => i.spec.startsWith('.'));
}

const folderOf = (rel) => rel.split('/')[0];

/**
 * Checks the tree under `srcDir` (paths reported relative to it). Returns the problems as
 * `{ kind: 'layer' | 'cycle' | 'stale-exception', message }`.
 */
export function checkLayers(srcDir, layers = LAYERS, knownBreaks = KNOWN_BREAKS, knownCycles = KNOWN_CYCLES) {
  const files = listTs(srcDir).map((f) => relative(srcDir, f).split(sep).join('/'));
  const known = new Set(files);
  const graph = new Map();
  const problems = [];
  const used = new Set();
  for (const from of files) {
    const edges = [];
    for (const { spec, typeOnly } of importsOf(from, readFileSync(join(srcDir, from), 'utf8'))) {
      const to = normalize(join(dirname(from), spec)).split(sep).join('/').replace(/\.js$/, '.ts');
      if (!known.has(to)) continue;
      edges.push(to);
      const a = folderOf(from);
      const b = folderOf(to);
      if (a === b || !from.includes('/') || !to.includes('/')) continue;
      const allowed = layers[a];
      if (allowed && allowed.includes(b)) continue;
      const exception = knownBreaks.find((k) => k.from === from && k.to === to);
      if (exception) {
        used.add(exception);
        continue;
      }
      problems.push({
        kind: 'layer',
        message: `${from} imports ${to}${typeOnly ? ' (type)' : ''}: ${a}/ may import ${allowed && allowed.length > 0 ? allowed.join(', ') : 'nothing outside itself'} (scripts/layers.mjs)`,
      });
    }
    graph.set(from, edges);
  }
  for (const k of knownBreaks) {
    if (!used.has(k)) problems.push({ kind: 'stale-exception', message: `${k.from} no longer imports ${k.to}: remove it from KNOWN_BREAKS in scripts/layers.mjs` });
  }
  const listed = new Set(knownCycles.map((c) => [...c].sort().join(' ')));
  const seen = new Set();
  for (const { files: members, path } of cyclesOf(graph)) {
    const key = [...members].sort().join(' ');
    seen.add(key);
    if (!listed.has(key)) problems.push({ kind: 'cycle', message: `import cycle: ${[...path, path[0]].join(' -> ')}${members.length > path.length ? ` (and ${members.length - path.length} more file(s) in the same knot: ${members.filter((m) => !path.includes(m)).join(', ')})` : ''}` });
  }
  for (const key of listed) {
    if (!seen.has(key)) problems.push({ kind: 'stale-exception', message: `the cycle of ${key.split(' ').join(', ')} is gone: remove it from KNOWN_CYCLES in scripts/layers.mjs` });
  }
  return problems;
}

/** Strongly connected components of more than one file (or a file importing itself): their files and one cycle through them. */
function cyclesOf(graph) {
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const on = new Set();
  const out = [];
  const strong = (v) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const comp = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) out.push({ files: comp, path: pathThrough(graph, new Set(comp), [...comp].sort()[0]) });
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) strong(v);
  return out;
}

/** A shortest path from `start` back to itself inside one component (breadth-first). */
function pathThrough(graph, comp, start) {
  const prev = new Map();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift();
    for (const w of graph.get(v) ?? []) {
      if (!comp.has(w)) continue;
      if (w === start) {
        const path = [v];
        while (path[0] !== start) path.unshift(prev.get(path[0]));
        return path;
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === normalize(process.argv[1])) {
  const root = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..');
  const problems = checkLayers(join(root, 'src'));
  for (const p of problems) process.stderr.write(`${p.kind}: ${p.message}\n`);
  if (problems.length > 0) {
    process.stderr.write(`${problems.length} layering problem(s): see the folder READMEs and scripts/layers.mjs\n`);
    process.exit(1);
  }
}
