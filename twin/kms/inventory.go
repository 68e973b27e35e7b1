package kms

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"
)

// Inventory is the JSON document that seeds a twin (format in doc.go).
// Parse it with ParseInventory, which refuses unknown fields and reports
// every problem with the JSON path of the field.
type Inventory struct {
	Accounts []AccountInventory `json:"accounts"`
}

// AccountInventory is one account: its id, optional fixed access key and
// its resources per region id.
type AccountInventory struct {
	ID              string                     `json:"id"`
	AccessKeyID     string                     `json:"accessKeyId,omitempty"`
	AccessKeySecret string                     `json:"accessKeySecret,omitempty"`
	Regions         map[string]RegionInventory `json:"regions"`
}

// RegionInventory is what one account holds in one region. Instances
// listed here are owned by the account.
type RegionInventory struct {
	Keys      []KeyInventory      `json:"keys,omitempty"`
	Secrets   []SecretInventory   `json:"secrets,omitempty"`
	Instances []InstanceInventory `json:"instances,omitempty"`
}

// KeyInventory is one KMS key. Empty fields take the defaults given in
// doc.go.
type KeyInventory struct {
	KeyID              string             `json:"keyId"`
	Aliases            []string           `json:"aliases,omitempty"`
	Description        string             `json:"description,omitempty"`
	KeySpec            string             `json:"keySpec,omitempty"`
	KeyUsage           string             `json:"keyUsage,omitempty"`
	ProtectionLevel    string             `json:"protectionLevel,omitempty"`
	Origin             string             `json:"origin,omitempty"`
	KeyState           string             `json:"keyState,omitempty"`
	Creator            string             `json:"creator,omitempty"`
	CreationDate       string             `json:"creationDate,omitempty"`
	DeleteDate         string             `json:"deleteDate,omitempty"`
	DeletionProtection bool               `json:"deletionProtection,omitempty"`
	AutomaticRotation  string             `json:"automaticRotation,omitempty"`
	RotationInterval   string             `json:"rotationInterval,omitempty"`
	LastRotationDate   string             `json:"lastRotationDate,omitempty"`
	Versions           []KeyVersionRecord `json:"versions,omitempty"`
	Tags               map[string]string  `json:"tags,omitempty"`
	DKMSInstanceID     string             `json:"dkmsInstanceId,omitempty"`
}

// KeyVersionRecord is one key version.
type KeyVersionRecord struct {
	KeyVersionID string `json:"keyVersionId"`
	CreationDate string `json:"creationDate,omitempty"`
}

// SecretInventory is one secret. An empty EncryptionKeyID means the
// system-managed key. SecretData is the value of the single default version
// when Versions is empty.
type SecretInventory struct {
	SecretName        string                `json:"secretName"`
	SecretType        string                `json:"secretType,omitempty"`
	Description       string                `json:"description,omitempty"`
	EncryptionKeyID   string                `json:"encryptionKeyId,omitempty"`
	AutomaticRotation string                `json:"automaticRotation,omitempty"`
	RotationInterval  string                `json:"rotationInterval,omitempty"`
	LastRotationDate  string                `json:"lastRotationDate,omitempty"`
	ExtendedConfig    string                `json:"extendedConfig,omitempty"`
	CreateTime        string                `json:"createTime,omitempty"`
	SecretData        string                `json:"secretData,omitempty"`
	Versions          []SecretVersionRecord `json:"versions,omitempty"`
	Tags              map[string]string     `json:"tags,omitempty"`
	DKMSInstanceID    string                `json:"dkmsInstanceId,omitempty"`
}

// SecretVersionRecord is one secret version with its stage labels.
type SecretVersionRecord struct {
	VersionID     string   `json:"versionId"`
	VersionStages []string `json:"versionStages,omitempty"`
	CreateTime    string   `json:"createTime,omitempty"`
	SecretData    string   `json:"secretData,omitempty"`
}

// InstanceInventory is one KMS 3.0 instance owned by the enclosing account
// in the enclosing region. Exactly one of EndDate and ExpiresInDays is set;
// ExpiresInDays counts from the moment the twin is built.
type InstanceInventory struct {
	KmsInstanceID string   `json:"kmsInstanceId"`
	Name          string   `json:"name,omitempty"`
	Type          string   `json:"type"`
	ImageVersion  string   `json:"imageVersion"`
	KeyQuota      int      `json:"keyQuota"`
	SecretQuota   int      `json:"secretQuota"`
	KeysUsed      int      `json:"keysUsed,omitempty"`
	SecretsUsed   int      `json:"secretsUsed,omitempty"`
	SecretNames   []string `json:"secretNames,omitempty"`
	Status        string   `json:"status,omitempty"`
	StartDate     string   `json:"startDate,omitempty"`
	EndDate       string   `json:"endDate,omitempty"`
	ExpiresInDays int      `json:"expiresInDays,omitempty"`
	AutoRenewal   bool     `json:"autoRenewal,omitempty"`
	SharedWith    []string `json:"sharedWith,omitempty"`
	Spec          int      `json:"spec,omitempty"`
	VpcNum        int      `json:"vpcNum,omitempty"`
}

// Problem is one reason an inventory is refused, at a JSON path such as
// accounts[1].regions["cn-hangzhou"].keys[3].origin.
type Problem struct {
	Path   string
	Reason string
}

// String renders the problem as "path: reason".
func (p Problem) String() string { return p.Path + ": " + p.Reason }

// InventoryError lists every problem of a refused inventory. Its message is
// one "path: reason" per line.
type InventoryError struct {
	Problems []Problem
}

// Error lists the problems, one "path: reason" per line.
func (e *InventoryError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// LoadInventory reads an inventory file; the name "demo" returns the
// built-in demo inventory.
func LoadInventory(path string) (*Inventory, error) {
	if path == "demo" {
		return DemoInventory(), nil
	}
	if spec, ok := strings.CutPrefix(path, "generate:"); ok {
		o, err := ParseGenerateSpec(spec)
		if err != nil {
			return nil, err
		}
		return Generate(o), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("kms: read inventory: %w", err)
	}
	defer f.Close()
	// One byte beyond the limit tells a file at the limit from a larger one
	// without reading a hostile file whole.
	b, err := io.ReadAll(io.LimitReader(f, MaxInventoryBytes+1))
	if err != nil {
		return nil, fmt.Errorf("kms: read inventory: %w", err)
	}
	return ParseInventory(b)
}

// MaxInventoryBytes is the largest inventory document accepted: far above
// any real estate exported by 'kmsmig plan --export' (about 1 KiB a
// resource), far below what would exhaust the memory of the machine that
// reads it.
const MaxInventoryBytes = 64 << 20

// ParseInventory decodes and validates an inventory. Malformed JSON, unknown
// fields, wrong JSON types and rule violations all yield an *InventoryError
// naming the JSON path (syntax errors name the byte offset).
func ParseInventory(b []byte) (*Inventory, error) {
	if len(b) > MaxInventoryBytes {
		return nil, &InventoryError{[]Problem{{Path: "$", Reason: fmt.Sprintf("larger than %d bytes", MaxInventoryBytes)}}}
	}
	var raw any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, &InventoryError{[]Problem{{Path: "$", Reason: fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, err)}}}
		}
		return nil, &InventoryError{[]Problem{{Path: "$", Reason: "invalid JSON: " + err.Error()}}}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &InventoryError{[]Problem{{Path: "$", Reason: "trailing data after the JSON document"}}}
	}
	var probs []Problem
	// A field given twice would be decoded as its last value, silently:
	// the JSON value is walked once more for them (it is well-formed).
	_ = repeatedFields(json.NewDecoder(bytes.NewReader(b)), "", reflect.TypeOf(Inventory{}), &probs)
	checkShape("", raw, reflect.TypeOf(Inventory{}), &probs)
	if len(probs) > 0 {
		return nil, &InventoryError{probs}
	}
	var inv Inventory
	if err := json.Unmarshal(b, &inv); err != nil { // shape already checked
		return nil, &InventoryError{[]Problem{{Path: "$", Reason: err.Error()}}}
	}
	if err := inv.Validate(); err != nil {
		return nil, err
	}
	return &inv, nil
}

// checkShape walks decoded JSON beside the Go type it must fill, recording
// unknown fields and JSON type mismatches with their path.
func checkShape(path string, v any, t reflect.Type, probs *[]Problem) {
	at := path
	if at == "" {
		at = "$"
	}
	if v == nil {
		return // null leaves the zero value
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			*probs = append(*probs, Problem{at, "must be an object"})
			return
		}
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			fields[name] = f.Type
		}
		names := make([]string, 0, len(obj))
		for n := range obj {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			ft, ok := fields[n]
			p := n
			if n == "" {
				p = `""` // an empty name still needs a path element
			}
			if path != "" {
				p = path + "." + p
			}
			if !ok {
				*probs = append(*probs, Problem{p, "unknown field"})
				continue
			}
			checkShape(p, obj[n], ft, probs)
		}
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			*probs = append(*probs, Problem{at, "must be an array"})
			return
		}
		for i, e := range arr {
			checkShape(fmt.Sprintf("%s[%d]", path, i), e, t.Elem(), probs)
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			*probs = append(*probs, Problem{at, "must be an object"})
			return
		}
		names := make([]string, 0, len(obj))
		for n := range obj {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			checkShape(fmt.Sprintf("%s[%q]", path, n), obj[n], t.Elem(), probs)
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			*probs = append(*probs, Problem{at, "must be a string"})
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			*probs = append(*probs, Problem{at, "must be true or false"})
		}
	case reflect.Int:
		n, ok := v.(json.Number)
		if !ok {
			*probs = append(*probs, Problem{at, "must be a number"})
			return
		}
		if _, err := n.Int64(); err != nil {
			*probs = append(*probs, Problem{at, "must be an integer"})
		}
	}
}

// repeatedFields reads one JSON value from dec, which sits beside the Go
// type t (nil when the shape is not t's: checkShape reports that), and
// records every object member given twice with its path, in the paths
// checkShape uses (struct fields as .name, map entries as ["name"]).
func repeatedFields(dec *json.Decoder, path string, t reflect.Type, probs *[]Problem) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch tok {
	case json.Delim('{'):
		var fields map[string]reflect.Type
		if t != nil && t.Kind() == reflect.Struct {
			fields = map[string]reflect.Type{}
			for i := range t.NumField() {
				name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
				fields[name] = t.Field(i).Type
			}
		}
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			name, _ := tok.(string)
			var p string
			var ft reflect.Type
			if t != nil && t.Kind() == reflect.Map {
				p, ft = fmt.Sprintf("%s[%q]", path, name), t.Elem()
			} else {
				p, ft = name, fields[name]
				if name == "" {
					p = `""`
				}
				if path != "" {
					p = path + "." + p
				}
			}
			if seen[name] {
				*probs = append(*probs, Problem{p, "given twice"})
			}
			seen[name] = true
			if err := repeatedFields(dec, p, ft, probs); err != nil {
				return err
			}
		}
		_, err = dec.Token() // }
		return err
	case json.Delim('['):
		var et reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			et = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if err := repeatedFields(dec, fmt.Sprintf("%s[%d]", path, i), et, probs); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ]
		return err
	}
	return nil
}
