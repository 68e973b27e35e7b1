package oss

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kmsmig/kmsmig/twin/acs"
)

// Bucket names one bucket the twin serves: its name, the account that owns
// it (only that account's keys may use it), its region (used for the
// HostId of responses) and its versioning state.
type Bucket struct {
	Name    string `json:"name"`
	Account string `json:"account"`
	Region  string `json:"region"`
	// Versioning is "" for a bucket that never had versioning (OSS's
	// default), "Enabled" or "Suspended". PutBucketVersioning changes it;
	// as in OSS, it cannot go back to "".
	Versioning string `json:"versioning,omitempty"`
}

// Config configures a Server.
type Config struct {
	// Keyring holds the access keys (long-term and STS) the twin accepts.
	// Required.
	Keyring *acs.Keyring
	// Buckets are created before the first request; more can be added with
	// CreateBucket.
	Buckets []Bucket
	// Now is the twin's clock; time.Now when nil. Requests signed more than
	// MaxSkew away from it are refused with RequestTimeTooSkewed, and the
	// Date header of every response carries it, as the SDK corrects its
	// clock from that header.
	Now func() time.Time
	// MaxSkew is the clock difference tolerated; 15 minutes when zero.
	MaxSkew time.Duration
	// MaxObjectSize caps PutObject bodies; 64 MiB when zero (real OSS: 5 GiB).
	MaxObjectSize int64
	// OnObjectCreated, when set, is told of every object a PutObject
	// created or replaced, after the write and before the answer: the
	// source of OSS event notifications (the FC twin's OSS triggers). It
	// must not block.
	OnObjectCreated func(ObjectCreated)
}

// ObjectCreated is an object-created event: what OSS's event notification
// (and Function Compute's OSS trigger event built from it) says about a
// PutObject.
type ObjectCreated struct {
	// EventName is the OSS event name without the "oss:" prefix,
	// ObjectCreated:PutObject (the only creation the twin serves).
	EventName string
	Bucket    Bucket
	Key       string
	// ETag is the object's ETag without quotes, as OSS events carry it.
	ETag string
	Size int64
	// DeltaSize is the size minus the size of the object it replaced (the
	// size for a new object).
	DeltaSize int64
	// RequestID is the PutObject's x-oss-request-id.
	RequestID string
	// Principal is the caller's account (STS callers: the role's account).
	Principal string
	// SourceIP is the caller's address.
	SourceIP string
	Time     time.Time
}

// Server is the OSS twin, an http.Handler. It is safe for concurrent use.
type Server struct {
	keys    *acs.Keyring
	now     func() time.Time
	maxSkew time.Duration
	maxSize int64

	onCreated func(ObjectCreated)

	mu      sync.RWMutex
	buckets map[string]*bucket
}

var _ http.Handler = (*Server)(nil)

// bucket is one bucket's objects; mu guards objects and versioning and
// makes each write's precondition check and store one atomic step.
type bucket struct {
	Bucket
	created time.Time

	mu      sync.RWMutex
	objects map[string]*object
	// keys are the objects' keys, sorted: a listing finds its prefix by
	// binary search instead of scanning every object (a run state of
	// tens of thousands of objects is listed per lane by the functions).
	keys       []string
	versioning string
}

// put stores obj at key, keeping keys sorted; b.mu is held.
func (b *bucket) put(key string, obj *object) {
	if _, ok := b.objects[key]; !ok {
		i, _ := slices.BinarySearch(b.keys, key)
		b.keys = slices.Insert(b.keys, i, key)
	}
	b.objects[key] = obj
}

// remove deletes key; b.mu is held.
func (b *bucket) remove(key string) {
	if _, ok := b.objects[key]; !ok {
		return
	}
	delete(b.objects, key)
	if i, found := slices.BinarySearch(b.keys, key); found {
		b.keys = slices.Delete(b.keys, i, i+1)
	}
}

// New returns a Server with the configured buckets. It fails without a
// keyring or on an invalid or duplicate bucket.
func New(cfg Config) (*Server, error) {
	if cfg.Keyring == nil {
		return nil, fmt.Errorf("oss twin: no keyring")
	}
	s := &Server{
		keys:    cfg.Keyring,
		now:     cfg.Now,
		maxSkew: cfg.MaxSkew,
		maxSize: cfg.MaxObjectSize,
		buckets: map[string]*bucket{},

		onCreated: cfg.OnObjectCreated,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxSkew == 0 {
		s.maxSkew = 15 * time.Minute
	}
	if s.maxSize == 0 {
		s.maxSize = 64 << 20
	}
	for _, b := range cfg.Buckets {
		if err := s.CreateBucket(b); err != nil {
			return nil, err
		}
	}
	return s, nil
}

var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)

// CreateBucket adds an empty bucket. It fails when the name breaks the OSS
// naming rules (3–63 lower-case letters, digits and hyphens, starting and
// ending with a letter or digit), the account or region is empty, or the
// name is taken (bucket names are global, as in OSS).
func (s *Server) CreateBucket(b Bucket) error {
	if !bucketName.MatchString(b.Name) {
		return fmt.Errorf("oss twin: invalid bucket name %q", b.Name)
	}
	if b.Account == "" || b.Region == "" {
		return fmt.Errorf("oss twin: bucket %s needs an account and a region", b.Name)
	}
	if b.Versioning != "" && b.Versioning != versioningEnabled && b.Versioning != versioningSuspended {
		return fmt.Errorf("oss twin: bucket %s: versioning %q: want %q, %q or none", b.Name, b.Versioning, versioningEnabled, versioningSuspended)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.buckets[b.Name]; ok {
		return fmt.Errorf("oss twin: bucket %s already exists", b.Name)
	}
	s.buckets[b.Name] = &bucket{Bucket: b, created: s.now().UTC(), objects: map[string]*object{}, versioning: b.Versioning}
	return nil
}

func (s *Server) bucket(name string) (*bucket, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, ok := s.buckets[name]
	return b, ok
}

// request is one parsed request: where it is addressed and who sent it.
type request struct {
	*http.Request
	id     string
	bucket *bucket
	// bucketName and key as addressed; hasKey distinguishes "/b/" from
	// "/b/k".
	bucketName string
	key        string
	hasKey     bool
	caller     acs.Caller
}

func (q *request) hostID() string {
	if q.bucket != nil {
		return q.bucket.Name + ".oss-" + q.bucket.Region + ".aliyuncs.com"
	}
	return q.Host
}

// ServeHTTP answers one OSS request: it resolves the bucket (path-style or
// virtual-hosted), verifies the signature, checks the caller's account owns
// the bucket and runs the operation.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := &request{Request: r, id: newRequestID()}
	h := w.Header()
	h.Set("x-oss-request-id", q.id)
	h.Set("Server", "AliyunOSS")
	h.Set("Date", s.now().UTC().Format(http.TimeFormat))
	if err := s.serve(w, q); err != nil {
		writeError(w, r, q.id, q.hostID(), err)
	}
}

func (s *Server) serve(w http.ResponseWriter, q *request) *ossError {
	s.address(q)
	if q.bucketName == "" {
		// ListBuckets and other service-level calls.
		if _, err := s.authenticate(q); err != nil {
			return err
		}
		return errNotImplemented
	}
	b, ok := s.bucket(q.bucketName)
	if !ok {
		return errNoSuchBucket.with("BucketName", q.bucketName)
	}
	q.bucket = b
	caller, err := s.authenticate(q)
	if err != nil {
		return err
	}
	q.caller = caller
	if caller.AccountID != b.Account {
		return errAccessDenied
	}
	if !q.hasKey {
		return s.serveBucket(w, q)
	}
	return s.serveObject(w, q)
}

// address finds the bucket and key. Virtual-hosted style names the bucket in
// the first label of the host (bucket.oss-cn-hangzhou.aliyuncs.com/key);
// path style in the first path segment (host/bucket/key). A host is taken as
// virtual-hosted when it is not an IP address and its first label is a
// bucket the twin has or the rest starts with "oss-".
func (s *Server) address(q *request) {
	host := q.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if label, rest, ok := strings.Cut(host, "."); ok && net.ParseIP(host) == nil && label != "" {
		_, known := s.bucket(label)
		if known || strings.HasPrefix(rest, "oss-") {
			q.bucketName = label
			if key, ok := strings.CutPrefix(q.URL.Path, "/"); ok && key != "" {
				q.key, q.hasKey = key, true
			}
			return
		}
	}
	p := strings.TrimPrefix(q.URL.Path, "/")
	name, key, slash := strings.Cut(p, "/")
	q.bucketName = name
	if slash && key != "" {
		q.key, q.hasKey = key, true
	}
}

func (s *Server) serveBucket(w http.ResponseWriter, q *request) *ossError {
	switch {
	case q.Method == http.MethodGet && q.URL.Query().Get("list-type") == "2" && onlyListParams(q.URL.Query()):
		return s.listObjectsV2(w, q)
	case q.URL.RawQuery == "versioning" && q.Method == http.MethodGet:
		return s.getBucketVersioning(w, q)
	case q.URL.RawQuery == "versioning" && q.Method == http.MethodPut:
		return s.putBucketVersioning(w, q)
	case q.Method == http.MethodGet, q.Method == http.MethodPut, q.Method == http.MethodDelete,
		q.Method == http.MethodPost, q.Method == http.MethodHead:
		return errNotImplemented
	default:
		return errMethodNotAllowed
	}
}

func (s *Server) serveObject(w http.ResponseWriter, q *request) *ossError {
	if len(q.key) > 1023 || strings.HasPrefix(q.key, "/") || strings.HasPrefix(q.key, `\`) {
		return errInvalidObjectName
	}
	// Sub-resources (?acl, ?tagging, ?uploads, ...) are other operations.
	for name := range q.URL.Query() {
		if !strings.HasPrefix(name, "response-") {
			return errNotImplemented
		}
	}
	switch q.Method {
	case http.MethodPut:
		if q.Header.Get("x-oss-copy-source") != "" {
			return errNotImplemented
		}
		return s.putObject(w, q)
	case http.MethodGet:
		return s.getObject(w, q, true)
	case http.MethodHead:
		return s.getObject(w, q, false)
	case http.MethodDelete:
		return s.deleteObject(w, q)
	case http.MethodPost:
		return errNotImplemented
	default:
		return errMethodNotAllowed
	}
}

// newRequestID returns an id in the real service's form: 24 upper-case hex
// digits.
func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}
