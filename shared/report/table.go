package report

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// table is a Markdown (GFM) table whose columns are padded to one width,
// so that it reads as a table in the raw text too.
type table struct {
	head  []string
	right []bool // right-aligned (numeric) columns
	rows  [][]string
}

func newTable(head ...string) *table { return &table{head: head, right: make([]bool, len(head))} }

// numeric right-aligns the columns at idx.
func (t *table) numeric(idx ...int) *table {
	for _, i := range idx {
		t.right[i] = true
	}
	return t
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(b *strings.Builder) {
	w := make([]int, len(t.head))
	for i, h := range t.head {
		w[i] = max(width(h), 3)
	}
	for _, r := range t.rows {
		for i, c := range r {
			w[i] = max(w[i], width(c))
		}
	}
	line := func(cells []string) {
		b.WriteString("|")
		for i := range t.head {
			c := ""
			if i < len(cells) {
				c = cells[i]
			}
			pad := strings.Repeat(" ", w[i]-width(c))
			b.WriteString(" ")
			if t.right[i] {
				b.WriteString(pad + c)
			} else {
				b.WriteString(c + pad)
			}
			b.WriteString(" |")
		}
		b.WriteString("\n")
	}
	line(t.head)
	b.WriteString("|")
	for i := range t.head {
		if t.right[i] {
			b.WriteString(" " + strings.Repeat("-", w[i]-1) + ": |")
		} else {
			b.WriteString(" " + strings.Repeat("-", w[i]) + " |")
		}
	}
	b.WriteString("\n")
	for _, r := range t.rows {
		line(r)
	}
}

func width(s string) int { return utf8.RuneCountInString(s) }

// text makes s safe in a table cell: one line, pipes escaped.
func text(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

// code renders s as a code span safe in a table cell. A name holding a
// backtick gets a double-backtick span.
func code(s string) string {
	if s == "" {
		return ""
	}
	s = text(s)
	if strings.Contains(s, "`") {
		return "`` " + s + " ``"
	}
	return "`" + s + "`"
}

// clip shortens s to at most n runes, ending with "…" when cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimRight(string(r[:n-1]), " ") + "…"
}

func itoa(n int) string { return strconv.Itoa(n) }

// dash stands for an empty cell.
func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
