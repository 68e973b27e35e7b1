package cloud

import "strings"

// QueryRemoved replaces the query of a URL that StripQueries removed.
const QueryRemoved = "?[query removed]"

// StripQueries returns s with the query of every http(s) URL in it
// removed: SDKs and credential providers put request URLs in their error
// texts, and a signed request's query carries the access key id, the STS
// token and the signature (credentials-go's STS errors do). The rest of
// the URL stays, so the error still says which endpoint failed.
func StripQueries(s string) string {
	var b strings.Builder
	rest := s
	for {
		i := indexURL(rest)
		if i < 0 {
			break
		}
		end := i
		for end < len(rest) && !urlEnd(rest[end]) {
			end++
		}
		u := rest[i:end]
		q := strings.IndexByte(u, '?')
		if q < 0 {
			b.WriteString(rest[:end])
		} else {
			b.WriteString(rest[:i+q])
			b.WriteString(QueryRemoved)
		}
		rest = rest[end:]
	}
	if b.Len() == 0 {
		return s
	}
	b.WriteString(rest)
	return b.String()
}

func indexURL(s string) int {
	i, j := strings.Index(s, "http://"), strings.Index(s, "https://")
	switch {
	case i < 0:
		return j
	case j < 0:
		return i
	}
	return min(i, j)
}

func urlEnd(c byte) bool {
	return c == ' ' || c == '"' || c == '\'' || c == '\n' || c == '\t' || c == '<' || c == '>' || c == '`'
}
