// Virtualised table and tree: only the rows in view (plus a small overscan) are in the DOM, so
// a list of 30,000 pods costs as much to render as a list of 40. Rows have a fixed height; the
// scroll container holds a spacer of rows × height. Keyboard: the list is one tab stop;
// ArrowUp/Down, PageUp/Down, Home/End move the active row (aria-activedescendant), Enter opens
// it; in the tree ArrowRight expands and ArrowLeft collapses. Sorting is by header buttons
// (aria-sort); sorted rows are cached per (rows, key, direction).
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { html } from './html.js';

const OVERSCAN = 10;
let ids = 0;

function useVirtual(count, rowHeight) {
  const ref = useRef(null);
  const [view, setView] = useState({ top: 0, height: 600 });
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return undefined;
    const measure = () => setView({ top: el.scrollTop, height: el.clientHeight || 600 });
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  const onScroll = (e) => setView({ top: e.currentTarget.scrollTop, height: e.currentTarget.clientHeight });
  const start = Math.max(0, Math.floor(view.top / rowHeight) - OVERSCAN);
  const end = Math.min(count, Math.ceil((view.top + view.height) / rowHeight) + OVERSCAN);
  const pageRows = Math.max(1, Math.floor(view.height / rowHeight) - 1);
  const reveal = (index) => {
    const el = ref.current;
    if (!el) return;
    const y = index * rowHeight;
    if (y < el.scrollTop) el.scrollTop = y;
    else if (y + rowHeight > el.scrollTop + el.clientHeight) el.scrollTop = y + rowHeight - el.clientHeight;
  };
  return { ref, start, end, onScroll, pageRows, reveal };
}

// Keyboard movement shared by the table and the tree; returns true if it handled the key.
function moveActive(key, active, count, pageRows) {
  switch (key) {
    case 'ArrowDown': return Math.min(count - 1, active + 1);
    case 'ArrowUp': return Math.max(0, active - 1);
    case 'PageDown': return Math.min(count - 1, active + pageRows);
    case 'PageUp': return Math.max(0, active - pageRows);
    case 'Home': return 0;
    case 'End': return count - 1;
    default: return null;
  }
}

function compare(a, b) {
  if (a === b) return 0;
  if (a === null || a === undefined) return 1;
  if (b === null || b === undefined) return -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

function sortRows(rows, column, dir) {
  if (!column) return rows;
  const value = column.value || ((row) => row[column.key]);
  const keyed = rows.map((row) => [value(row), row]);
  keyed.sort((x, y) => dir * compare(x[0], y[0]));
  return keyed.map((pair) => pair[1]);
}

function cell(column, row) {
  if (column.render) return column.render(row);
  const v = column.value ? column.value(row) : row[column.key];
  return v === null || v === undefined ? '—' : String(v);
}

// columns: [{key, label, width (CSS grid track), value?(row), render?(row)}]
export function VTable({ columns, rows, rowKey, onOpen, label, rowHeight = 28, initialSort = null,
  markFirstRows = null, empty = 'Nothing to show.', testid = null }) {
  const [sort, setSort] = useState(initialSort || { key: null, dir: 1 });
  const [active, setActive] = useState(0);
  const [id] = useState(() => `vt${++ids}`);
  const column = columns.find((c) => c.key === sort.key);
  const sorted = useMemo(() => sortRows(rows, column, sort.dir), [rows, sort.key, sort.dir]);
  const v = useVirtual(sorted.length, rowHeight);
  const grid = { gridTemplateColumns: columns.map((c) => c.width || '1fr').join(' ') };
  const marked = useRef(false);

  useEffect(() => {
    if (!markFirstRows || marked.current || sorted.length === 0) return;
    marked.current = true;
    // After the browser has painted the rows: the user-visible "first rows" moment.
    requestAnimationFrame(() => setTimeout(() => performance.mark(markFirstRows), 0));
  }, [sorted.length > 0]);
  useEffect(() => { if (active >= sorted.length) setActive(Math.max(0, sorted.length - 1)); }, [sorted.length]);

  const onKey = (e) => {
    if (e.key === 'Enter' && sorted[active] && onOpen) { e.preventDefault(); onOpen(sorted[active]); return; }
    const next = moveActive(e.key, active, sorted.length, v.pageRows);
    if (next === null) return;
    e.preventDefault();
    setActive(next);
    v.reveal(next);
  };
  const toggle = (key) => setSort((s) => ({ key, dir: s.key === key ? -s.dir : 1 }));
  const visible = [];
  for (let i = v.start; i < v.end; i += 1) {
    const row = sorted[i];
    visible.push(html`<div role="row" id=${`${id}-${i}`} key=${rowKey(row)} aria-rowindex=${i + 2}
      aria-selected=${i === active} class=${`vt-row${i === active ? ' active' : ''}`}
      style=${{ ...grid, transform: `translateY(${i * rowHeight}px)`, height: `${rowHeight}px` }}
      onClick=${() => { setActive(i); if (onOpen) onOpen(row); }}>
      ${columns.map((c) => html`<div role="gridcell" class="vt-cell">${cell(c, row)}</div>`)}
    </div>`);
  }
  return html`<div class="vt" role="grid" aria-label=${label} aria-rowcount=${sorted.length + 1}
      data-testid=${testid} data-rows=${sorted.length}>
    <div role="row" class="vt-head" style=${grid} aria-rowindex="1">
      ${columns.map((c) => html`<div role="columnheader"
          aria-sort=${sort.key === c.key ? (sort.dir > 0 ? 'ascending' : 'descending') : 'none'}>
        <button type="button" onClick=${() => toggle(c.key)} aria-label=${`Sort by ${c.label}`}>
          ${c.label}${sort.key === c.key ? (sort.dir > 0 ? ' ▲' : ' ▼') : ''}
        </button></div>`)}
    </div>
    <div class="vt-body" ref=${v.ref} onScroll=${v.onScroll} tabindex="0" onKeyDown=${onKey}
        aria-activedescendant=${sorted.length ? `${id}-${active}` : undefined}>
      ${sorted.length === 0 ? html`<p class="vt-empty">${empty}</p>` : null}
      <div class="vt-spacer" style=${{ height: `${sorted.length * rowHeight}px` }}>${visible}</div>
    </div>
  </div>`;
}

// items: flattened visible tree [{id, depth, label, expandable, expanded, meta}]
export function VTree({ items, label, onOpen, onToggle, rowHeight = 26 }) {
  const [active, setActive] = useState(0);
  const [id] = useState(() => `tr${++ids}`);
  const v = useVirtual(items.length, rowHeight);
  useEffect(() => { if (active >= items.length) setActive(Math.max(0, items.length - 1)); }, [items.length]);
  const onKey = (e) => {
    const item = items[active];
    if (!item) return;
    if (e.key === 'Enter') { e.preventDefault(); onOpen(item); return; }
    if (e.key === 'ArrowRight' && item.expandable) {
      e.preventDefault();
      if (!item.expanded) onToggle(item);
      else if (items[active + 1]) { setActive(active + 1); v.reveal(active + 1); }
      return;
    }
    if (e.key === 'ArrowLeft') {
      e.preventDefault();
      if (item.expanded) { onToggle(item); return; }
      for (let i = active - 1; i >= 0; i -= 1) {
        if (items[i].depth < item.depth) { setActive(i); v.reveal(i); break; }
      }
      return;
    }
    const next = moveActive(e.key, active, items.length, v.pageRows);
    if (next === null) return;
    e.preventDefault();
    setActive(next);
    v.reveal(next);
  };
  const visible = [];
  for (let i = v.start; i < v.end; i += 1) {
    const item = items[i];
    visible.push(html`<div role="treeitem" id=${`${id}-${i}`} key=${item.id} aria-level=${item.depth + 1}
        aria-expanded=${item.expandable ? item.expanded : undefined} aria-selected=${i === active}
        data-node-id=${item.id}
        class=${`tree-item${i === active ? ' active' : ''}`}
        style=${{ transform: `translateY(${i * rowHeight}px)`, height: `${rowHeight}px`, paddingLeft: `${0.4 + item.depth * 1.1}rem` }}>
      <button type="button" class="twisty" tabindex="-1" aria-hidden="true"
        style=${{ visibility: item.expandable ? 'visible' : 'hidden' }}
        onClick=${() => { setActive(i); onToggle(item); }}>${item.expanded ? '▾' : '▸'}</button>
      <span class="tree-label" onClick=${() => { setActive(i); onOpen(item); }}>${item.label}</span>
      ${item.meta ? html`<span class="tree-meta">${item.meta}</span>` : null}
    </div>`);
  }
  return html`<div class="vt-body tree" role="tree" aria-label=${label} ref=${v.ref} onScroll=${v.onScroll}
      tabindex="0" onKeyDown=${onKey} aria-activedescendant=${items.length ? `${id}-${active}` : undefined}>
    <div class="vt-spacer" style=${{ height: `${items.length * rowHeight}px` }}>${visible}</div>
  </div>`;
}
