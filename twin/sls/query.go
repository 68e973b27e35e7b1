package sls

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// defaultTokens is the delimiter set of the console's default index.
var defaultTokens = []string{" ", "\n", "\t", "\r", ",", ";", "[", "]", "{", "}", "(", ")", "&", "^", "*", "#", "@", "~", "=", "<", ">", "/", "\\", "?", ":", "'", "\""}

type indexConfig struct {
	Keys map[string]indexKey `json:"keys"`
	Line *indexLine          `json:"line"`
}

type indexKey struct {
	Token         []string `json:"token"`
	CaseSensitive bool     `json:"caseSensitive"`
	Type          string   `json:"type"`
}

type indexLine struct {
	Token         []string `json:"token"`
	CaseSensitive bool     `json:"caseSensitive"`
	IncludeKeys   []string `json:"include_keys"`
	ExcludeKeys   []string `json:"exclude_keys"`
}

func parseIndex(b []byte) (*indexConfig, error) {
	var c indexConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	if len(c.Keys) == 0 && c.Line == nil {
		return nil, fmt.Errorf("index has neither keys nor line")
	}
	return &c, nil
}

// tokenize splits s at any of the delimiter strings (single characters in
// practice) and drops empty tokens.
func tokenize(s string, delims []string, caseSensitive bool) []string {
	if len(delims) == 0 {
		delims = defaultTokens
	}
	if !caseSensitive {
		s = strings.ToLower(s)
	}
	set := make(map[rune]bool, len(delims))
	for _, d := range delims {
		if r, size := utf8.DecodeRuneInString(d); size > 0 && size == len(d) {
			set[r] = true
		}
	}
	return strings.FieldsFunc(s, func(r rune) bool { return set[r] })
}

// containsPhrase reports whether the token sequence want appears in have;
// the last wanted token may be a prefix when prefix is set.
func containsPhrase(have, want []string, prefix bool) bool {
	if len(want) == 0 {
		return false
	}
	for i := 0; i+len(want) <= len(have); i++ {
		ok := true
		for j, w := range want {
			h := have[i+j]
			if j == len(want)-1 && prefix {
				ok = strings.HasPrefix(h, w)
			} else {
				ok = h == w
			}
			if !ok {
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// node is a parsed query: a term, a negation, or an and/or of two nodes.
type node interface {
	match(l *Log) bool
}

type allNode struct{}

func (allNode) match(*Log) bool { return true }

type notNode struct{ n node }

func (n notNode) match(l *Log) bool { return !n.n.match(l) }

type andNode struct{ a, b node }

func (n andNode) match(l *Log) bool { return n.a.match(l) && n.b.match(l) }

type orNode struct{ a, b node }

func (n orNode) match(l *Log) bool { return n.a.match(l) || n.b.match(l) }

// fieldNode is key:value; value "*" means the key is present.
type fieldNode struct {
	key     string
	value   string
	prefix  bool
	any     bool
	tokens  []string
	caseSen bool
}

func (n fieldNode) match(l *Log) bool {
	for _, v := range fieldValues(l, n.key) {
		if n.any {
			return true
		}
		if containsPhrase(tokenize(v, n.tokens, n.caseSen), tokenize(n.value, n.tokens, n.caseSen), n.prefix) {
			return true
		}
	}
	return false
}

func fieldValues(l *Log, key string) []string {
	switch key {
	case "__topic__":
		return []string{l.Topic}
	case "__source__":
		return []string{l.Source}
	}
	var out []string
	if tag, ok := strings.CutPrefix(key, "__tag__:"); ok {
		for _, t := range l.Tags {
			if t.Key == tag {
				out = append(out, t.Value)
			}
		}
		return out
	}
	for _, c := range l.Contents {
		if c.Key == key {
			out = append(out, c.Value)
		}
	}
	return out
}

// textNode is a bare word or phrase searched in the full-text index.
type textNode struct {
	value  string
	prefix bool
	line   *indexLine
}

func (n textNode) match(l *Log) bool {
	want := tokenize(n.value, n.line.Token, n.line.CaseSensitive)
	for _, c := range l.Contents {
		if !n.line.covers(c.Key) {
			continue
		}
		if containsPhrase(tokenize(c.Value, n.line.Token, n.line.CaseSensitive), want, n.prefix) {
			return true
		}
	}
	return false
}

func (li *indexLine) covers(key string) bool {
	if len(li.IncludeKeys) > 0 {
		for _, k := range li.IncludeKeys {
			if k == key {
				return true
			}
		}
		return false
	}
	for _, k := range li.ExcludeKeys {
		if k == key {
			return false
		}
	}
	return true
}

// query lexing: words, quoted strings, parentheses and ':'.
type token struct {
	kind   byte // 'w' word, 'q' quoted, '(' ')' ':'
	text   string
	quoted bool
}

func lex(q string) ([]token, error) {
	var out []token
	rs := []rune(q)
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case r == '(' || r == ')' || r == ':':
			out = append(out, token{kind: byte(r), text: string(r)})
			i++
		case r == '"':
			j := i + 1
			var b strings.Builder
			for ; j < len(rs) && rs[j] != '"'; j++ {
				if rs[j] == '\\' && j+1 < len(rs) {
					j++
				}
				b.WriteRune(rs[j])
			}
			if j >= len(rs) {
				return nil, fmt.Errorf("unterminated quote")
			}
			out = append(out, token{kind: 'w', text: b.String(), quoted: true})
			i = j + 1
		case r == '|':
			return nil, errSQL
		default:
			j := i
			for j < len(rs) && !unicode.IsSpace(rs[j]) && !strings.ContainsRune("():\"|", rs[j]) {
				j++
			}
			out = append(out, token{kind: 'w', text: string(rs[i:j])})
			i = j
		}
	}
	return out, nil
}

var errSQL = fmt.Errorf("analytic statements (| SELECT ...) are not supported by the twin")

type parser struct {
	toks  []token
	pos   int
	index *indexConfig
}

// parseQuery parses the search statement subset described in the package
// doc against a logstore's index.
func parseQuery(q string, index *indexConfig) (node, error) {
	q = strings.TrimSpace(q)
	if q == "" || q == "*" {
		return allNode{}, nil
	}
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, index: index}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.toks[p.pos].text)
	}
	return n, nil
}

func (p *parser) peekWord(words ...string) bool {
	if p.pos >= len(p.toks) || p.toks[p.pos].kind != 'w' || p.toks[p.pos].quoted {
		return false
	}
	for _, w := range words {
		if strings.EqualFold(p.toks[p.pos].text, w) {
			return true
		}
	}
	return false
}

func (p *parser) or() (node, error) {
	n, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.peekWord("or", "||") {
		p.pos++
		m, err := p.and()
		if err != nil {
			return nil, err
		}
		n = orNode{n, m}
	}
	return n, nil
}

// and joins unary terms; an operator-less sequence means and, as in SLS.
func (p *parser) and() (node, error) {
	n, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.pos < len(p.toks) && p.toks[p.pos].kind != ')' && !p.peekWord("or", "||") {
		if p.peekWord("and", "&&") {
			p.pos++
		}
		m, err := p.unary()
		if err != nil {
			return nil, err
		}
		n = andNode{n, m}
	}
	return n, nil
}

func (p *parser) unary() (node, error) {
	if p.peekWord("not") {
		p.pos++
		n, err := p.unary()
		if err != nil {
			return nil, err
		}
		return notNode{n}, nil
	}
	return p.primary()
}

func (p *parser) primary() (node, error) {
	if p.pos >= len(p.toks) {
		return nil, fmt.Errorf("unexpected end of query")
	}
	t := p.toks[p.pos]
	switch t.kind {
	case '(':
		p.pos++
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.pos >= len(p.toks) || p.toks[p.pos].kind != ')' {
			return nil, fmt.Errorf("missing )")
		}
		p.pos++
		return n, nil
	case 'w':
		p.pos++
		if p.pos < len(p.toks) && p.toks[p.pos].kind == ':' {
			p.pos++
			if p.pos >= len(p.toks) || p.toks[p.pos].kind != 'w' {
				return nil, fmt.Errorf("missing value after %s:", t.text)
			}
			v := p.toks[p.pos]
			p.pos++
			return p.field(t.text, v)
		}
		if !t.quoted && t.text == "*" {
			return allNode{}, nil
		}
		return p.text(t)
	}
	return nil, fmt.Errorf("unexpected %q", t.text)
}

func (p *parser) field(key string, v token) (node, error) {
	n := fieldNode{key: key, value: v.text}
	switch {
	case key == "__topic__" || key == "__source__" || strings.HasPrefix(key, "__tag__:"):
		n.tokens = defaultTokens
	default:
		k, ok := p.index.Keys[key]
		if !ok {
			return nil, fmt.Errorf("key (%s) is not config as key value config,if symbol : is in your log,please wrap : with quotation mark \"", key)
		}
		n.tokens, n.caseSen = k.Token, k.CaseSensitive
	}
	if !v.quoted {
		if v.text == "*" {
			n.any = true
		} else if s, ok := strings.CutSuffix(v.text, "*"); ok {
			n.value, n.prefix = s, true
		}
	}
	return n, nil
}

func (p *parser) text(t token) (node, error) {
	if p.index.Line == nil {
		return nil, fmt.Errorf("full text index is not configured, so %q cannot be searched; use key:value", t.text)
	}
	n := textNode{value: t.text, line: p.index.Line}
	if !t.quoted {
		if s, ok := strings.CutSuffix(t.text, "*"); ok {
			n.value, n.prefix = s, true
		}
	}
	return n, nil
}
