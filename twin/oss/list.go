package oss

import (
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// listParams are the query parameters ListObjectsV2 takes.
var listParams = map[string]bool{
	"list-type": true, "prefix": true, "delimiter": true, "max-keys": true, "start-after": true,
	"continuation-token": true, "encoding-type": true, "fetch-owner": true,
}

func onlyListParams(v url.Values) bool {
	for k := range v {
		if !listParams[k] {
			return false
		}
	}
	return true
}

type listResult struct {
	XMLName               xml.Name       `xml:"ListBucketResult"`
	Name                  string         `xml:"Name"`
	Prefix                string         `xml:"Prefix"`
	StartAfter            string         `xml:"StartAfter,omitempty"`
	ContinuationToken     string         `xml:"ContinuationToken,omitempty"`
	MaxKeys               int            `xml:"MaxKeys"`
	Delimiter             string         `xml:"Delimiter"`
	EncodingType          string         `xml:"EncodingType,omitempty"`
	IsTruncated           bool           `xml:"IsTruncated"`
	NextContinuationToken string         `xml:"NextContinuationToken,omitempty"`
	Contents              []listContent  `xml:"Contents"`
	CommonPrefixes        []commonPrefix `xml:"CommonPrefixes"`
	KeyCount              int            `xml:"KeyCount"`
}

type listContent struct {
	Key          string     `xml:"Key"`
	LastModified string     `xml:"LastModified"`
	ETag         string     `xml:"ETag"`
	Type         string     `xml:"Type"`
	Size         int        `xml:"Size"`
	StorageClass string     `xml:"StorageClass"`
	Owner        *listOwner `xml:"Owner,omitempty"`
}

type listOwner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}

type commonPrefix struct {
	Prefix string `xml:"Prefix"`
}

// listObjectsV2 lists keys in order after start-after or the continuation
// token, rolling keys that contain the delimiter after the prefix up into
// common prefixes. The continuation token is the last entry returned,
// base64url-encoded; with encoding-type=url, keys, prefixes and tokens are
// percent-encoded as the SDKs expect.
func (s *Server) listObjectsV2(w http.ResponseWriter, q *request) *ossError {
	v := q.URL.Query()
	prefix, delim := v.Get("prefix"), v.Get("delimiter")
	maxKeys := 100
	if mk := v.Get("max-keys"); mk != "" {
		n, err := strconv.Atoi(mk)
		if err != nil || n < 1 || n > 1000 {
			return errorf(http.StatusBadRequest, "InvalidArgument", "max-keys must be an integer between 1 and 1000.").with("ArgumentName", "max-keys").with("ArgumentValue", mk)
		}
		maxKeys = n
	}
	encoding := v.Get("encoding-type")
	if encoding != "" && encoding != "url" {
		return errorf(http.StatusBadRequest, "InvalidArgument", "Invalid Encoding Method specified in Request").with("ArgumentName", "encoding-type").with("ArgumentValue", encoding)
	}
	marker := v.Get("start-after")
	token := v.Get("continuation-token")
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil {
			return errorf(http.StatusBadRequest, "InvalidArgument", "The continuation token provided is incorrect.").with("ArgumentName", "continuation-token")
		}
		marker = string(raw)
	}

	b := q.bucket
	b.mu.RLock()
	from := prefix
	if marker > from {
		from = marker
	}
	i, _ := slices.BinarySearch(b.keys, from)
	var keys []string
	for _, k := range b.keys[i:] {
		if !strings.HasPrefix(k, prefix) {
			break // sorted: past the prefix
		}
		if k > marker {
			keys = append(keys, k)
		}
	}
	objs := make(map[string]*object, len(keys))
	for _, k := range keys {
		objs[k] = b.objects[k]
	}
	b.mu.RUnlock()

	// URL encoding is RFC 3986's: a space is %20 and "/" %2F (the Go
	// SDK's fixtures: "hello%20%21world", "fun%2Fmovie%2F001.avi"). A "+"
	// for a space would come back as a plus from decoders that do not
	// read forms (oss2's unquote, ali-oss's decodeURIComponent).
	enc := func(s string) string {
		if encoding == "url" {
			return uriEncode(s, true)
		}
		return s
	}
	res := listResult{
		Name:         b.Name,
		Prefix:       enc(prefix),
		StartAfter:   enc(v.Get("start-after")),
		MaxKeys:      maxKeys,
		Delimiter:    enc(delim),
		EncodingType: encoding,
	}
	if token != "" {
		res.ContinuationToken = enc(token)
	}
	fetchOwner := v.Get("fetch-owner") == "true"
	count, last, lastPrefix := 0, "", ""
	for _, k := range keys {
		cp := ""
		if delim != "" {
			if i := strings.Index(k[len(prefix):], delim); i >= 0 {
				cp = k[:len(prefix)+i+len(delim)]
				if cp == lastPrefix || cp <= marker {
					continue // rolled up already, on this page or an earlier one
				}
			}
		}
		if count == maxKeys {
			res.IsTruncated = true
			res.NextContinuationToken = enc(base64.RawURLEncoding.EncodeToString([]byte(last)))
			break
		}
		count++
		if cp != "" {
			res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: enc(cp)})
			last, lastPrefix = cp, cp
			continue
		}
		o := objs[k]
		c := listContent{
			Key:          enc(k),
			LastModified: o.modified.Format("2006-01-02T15:04:05.000Z"),
			ETag:         o.etag,
			Type:         "Normal",
			Size:         len(o.data),
			StorageClass: "Standard",
		}
		if fetchOwner {
			c.Owner = &listOwner{ID: o.owner, DisplayName: o.owner}
		}
		res.Contents = append(res.Contents, c)
		last = k
	}
	res.KeyCount = count

	out, err := xml.MarshalIndent(res, "", "  ")
	if err != nil {
		return errorf(http.StatusInternalServerError, "InternalError", "encode list: %v", err)
	}
	out = append([]byte(xml.Header), out...)
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
	return nil
}
