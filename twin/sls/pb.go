package sls

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// The LogGroup protobuf (log.proto of the SDK), decoded by hand so the twin
// checks the wire format independently of the client's own code:
//
//	LogGroup { repeated Log Logs = 1; optional string Category = 2; Topic = 3; Source = 4;
//	           MachineUUID = 5; repeated LogTag LogTags = 6 }
//	Log      { required uint32 Time = 1; repeated LogContent Contents = 2; optional fixed32 TimeNs = 4 }
//	LogContent, LogTag { required string Key = 1; required string Value = 2 }

type pbLogGroup struct {
	Logs     []pbLog
	Category string
	Topic    string
	Source   string
	Machine  string
	Tags     []Content
}

type pbLog struct {
	Time     uint32
	TimeNs   uint32
	HasTime  bool
	Contents []Content
}

var errTruncated = errors.New("truncated message")

type pbReader struct {
	b []byte
}

func (r *pbReader) varint() (uint64, error) {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		return 0, errTruncated
	}
	r.b = r.b[n:]
	return v, nil
}

func (r *pbReader) bytes() ([]byte, error) {
	n, err := r.varint()
	if err != nil {
		return nil, err
	}
	if n > uint64(len(r.b)) {
		return nil, errTruncated
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v, nil
}

func (r *pbReader) str() (string, error) {
	b, err := r.bytes()
	if err != nil {
		return "", err
	}
	if !utf8.Valid(b) {
		return "", errors.New("string is not valid UTF-8")
	}
	return string(b), nil
}

// skip discards a field of the given wire type.
func (r *pbReader) skip(wire uint64) error {
	switch wire {
	case 0:
		_, err := r.varint()
		return err
	case 1:
		if len(r.b) < 8 {
			return errTruncated
		}
		r.b = r.b[8:]
	case 2:
		_, err := r.bytes()
		return err
	case 5:
		if len(r.b) < 4 {
			return errTruncated
		}
		r.b = r.b[4:]
	default:
		return fmt.Errorf("unsupported wire type %d", wire)
	}
	return nil
}

// fields calls fn for every field; fn reads the value or returns handled=false
// so that it is skipped.
func (r *pbReader) fields(fn func(num, wire uint64) (bool, error)) error {
	for len(r.b) > 0 {
		tag, err := r.varint()
		if err != nil {
			return err
		}
		num, wire := tag>>3, tag&7
		handled, err := fn(num, wire)
		if err != nil {
			return fmt.Errorf("field %d: %w", num, err)
		}
		if !handled {
			if err := r.skip(wire); err != nil {
				return err
			}
		}
	}
	return nil
}

func decodeLogGroup(b []byte) (pbLogGroup, error) {
	var g pbLogGroup
	r := &pbReader{b: b}
	err := r.fields(func(num, wire uint64) (bool, error) {
		if wire != 2 {
			return false, nil
		}
		var err error
		switch num {
		case 1:
			var raw []byte
			if raw, err = r.bytes(); err == nil {
				var l pbLog
				if l, err = decodeLog(raw); err == nil {
					g.Logs = append(g.Logs, l)
				}
			}
		case 2:
			g.Category, err = r.str()
		case 3:
			g.Topic, err = r.str()
		case 4:
			g.Source, err = r.str()
		case 5:
			g.Machine, err = r.str()
		case 6:
			var raw []byte
			if raw, err = r.bytes(); err == nil {
				var kv Content
				if kv, err = decodePair(raw); err == nil {
					g.Tags = append(g.Tags, kv)
				}
			}
		default:
			return false, nil
		}
		return true, err
	})
	return g, err
}

func decodeLog(b []byte) (pbLog, error) {
	var l pbLog
	r := &pbReader{b: b}
	err := r.fields(func(num, wire uint64) (bool, error) {
		switch {
		case num == 1 && wire == 0:
			v, err := r.varint()
			l.Time, l.HasTime = uint32(v), true
			return true, err
		case num == 2 && wire == 2:
			raw, err := r.bytes()
			if err != nil {
				return true, err
			}
			kv, err := decodePair(raw)
			l.Contents = append(l.Contents, kv)
			return true, err
		case num == 4 && wire == 5:
			if len(r.b) < 4 {
				return true, errTruncated
			}
			l.TimeNs = binary.LittleEndian.Uint32(r.b)
			r.b = r.b[4:]
			return true, nil
		}
		return false, nil
	})
	if err == nil && !l.HasTime {
		err = errors.New("log without Time")
	}
	return l, err
}

func decodePair(b []byte) (Content, error) {
	var kv Content
	var hasKey, hasValue bool
	r := &pbReader{b: b}
	err := r.fields(func(num, wire uint64) (bool, error) {
		if wire != 2 {
			return false, nil
		}
		var err error
		switch num {
		case 1:
			kv.Key, err = r.str()
			hasKey = true
		case 2:
			kv.Value, err = r.str()
			hasValue = true
		default:
			return false, nil
		}
		return true, err
	})
	if err == nil && (!hasKey || !hasValue) {
		err = errors.New("key/value pair without Key or Value")
	}
	return kv, err
}
