import type { TaskGraph } from './expand-tasks.js';

/** The text formats of `ckpt flow graph`. */
export type GraphFormat = 'dot' | 'mermaid';

function label(graph: TaskGraph, name: string): string {
  const count = graph.tasksOf.get(name)!.length;
  return count > 1 ? `${name} (${count} tasks)` : name;
}

/** The step graph (an edge from each needed step to the step needing it) as Graphviz DOT or Mermaid. */
export function renderGraph(graph: TaskGraph, format: GraphFormat): string {
  const lines: string[] = [];
  const ids = new Map(graph.stepOrder.map((name, i) => [name, `s${i}`]));
  if (format === 'dot') {
    lines.push('digraph flow {', '  rankdir=LR;', '  node [shape=box];');
    for (const name of graph.stepOrder)
      lines.push(`  ${ids.get(name)} [label=${JSON.stringify(label(graph, name))}];`);
    for (const name of graph.stepOrder) {
      for (const need of graph.steps.get(name)!.needs) lines.push(`  ${ids.get(need)} -> ${ids.get(name)};`);
    }
    lines.push('}');
  } else {
    lines.push('flowchart LR');
    for (const name of graph.stepOrder) {
      lines.push(`  ${ids.get(name)}["${label(graph, name).replaceAll('"', '#quot;')}"]`);
    }
    for (const name of graph.stepOrder) {
      for (const need of graph.steps.get(name)!.needs) lines.push(`  ${ids.get(need)} --> ${ids.get(name)}`);
    }
  }
  return lines.join('\n');
}
