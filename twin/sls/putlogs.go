package sls

import (
	"bytes"
	"compress/zlib"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	slssdk "github.com/aliyun/aliyun-log-go-sdk"
	"github.com/pierrec/lz4/v4"
)

// zstdCodec is the SDK's own zstd codec (klauspost/compress); level 1 is
// the fastest, only decompression is used.
var zstdCodec = slssdk.NewZstdCompressor(1)

// decompress undoes x-log-compresstype and checks x-log-bodyrawsize.
func decompress(h http.Header, body []byte) ([]byte, *Error) {
	rawHeader := h.Get("x-log-bodyrawsize")
	if rawHeader == "" {
		return nil, errorf(http.StatusBadRequest, CodeMissingBodyRawSize, "x-log-bodyrawsize does not exist in header when it is necessary.")
	}
	rawSize, err := strconv.Atoi(rawHeader)
	if err != nil || rawSize < 0 {
		return nil, errorf(http.StatusBadRequest, CodeInvalidBodyRawSize, "x-log-bodyrawsize is invalid.")
	}
	if rawSize > MaxLogGroupBytes {
		return nil, errorf(http.StatusRequestEntityTooLarge, CodePostBodyTooLarge,
			"body size %d must little than %d", rawSize, MaxLogGroupBytes)
	}
	var out []byte
	switch ct := h.Get("x-log-compresstype"); ct {
	case "":
		out = body
	case "lz4":
		out = make([]byte, rawSize)
		n, err := lz4.UncompressBlock(body, out)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, CodePostBodyUncompressError, "lz4 body: %v", err)
		}
		out = out[:n]
	case "zstd":
		out, err = zstdCodec.Decompress(body, nil)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, CodePostBodyUncompressError, "zstd body: %v", err)
		}
	case "deflate":
		zr, err := zlib.NewReader(bytes.NewReader(body))
		if err == nil {
			out, err = io.ReadAll(io.LimitReader(zr, MaxLogGroupBytes+1))
		}
		if err != nil {
			return nil, errorf(http.StatusBadRequest, CodePostBodyUncompressError, "deflate body: %v", err)
		}
	default:
		return nil, errorf(http.StatusBadRequest, CodeInvalidCompressType, "x-log-compresstype %s is unsupported.", ct)
	}
	if len(out) != rawSize {
		return nil, errorf(http.StatusBadRequest, CodePostBodyUncompressError,
			"uncompressed size %d does not match x-log-bodyrawsize %d", len(out), rawSize)
	}
	return out, nil
}

func (s *Server) putLogs(req *request) *Error {
	if ct := req.r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		return errorf(http.StatusUnsupportedMediaType, CodeInvalidContentType, "Content-Type %s is unsupported.", ct)
	}
	raw, e := decompress(req.r.Header, req.body)
	if e != nil {
		return e
	}
	g, err := decodeLogGroup(raw)
	if err != nil {
		return errorf(http.StatusBadRequest, CodePostBodyInvalid, "log group: %v", err)
	}
	if len(g.Logs) == 0 {
		return errorf(http.StatusBadRequest, CodePostBodyInvalid, "log group has no logs")
	}
	source := g.Source
	if source == "" {
		// The real service records the client's address.
		source, _, _ = net.SplitHostPort(req.r.RemoteAddr)
	}
	logs := make([]Log, len(g.Logs))
	for i, l := range g.Logs {
		logs[i] = Log{
			Time:     time.Unix(int64(l.Time), int64(l.TimeNs)).UTC(),
			Topic:    g.Topic,
			Source:   source,
			Tags:     g.Tags,
			Contents: l.Contents,
		}
	}
	s.mu.Lock()
	ls, e := s.store(req)
	if e == nil {
		ls.logs = append(ls.logs, logs...)
	}
	s.mu.Unlock()
	if e != nil {
		return e
	}
	req.w.WriteHeader(http.StatusOK)
	return nil
}
