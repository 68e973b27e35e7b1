package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// maxResponse is how much of a receiver's answer is read.
const maxResponse = 64 << 10

// Webhook posts alerts as JSON to a URL:
//
//	{"key","severity","title","text","fields","time"}
//
// Any 2xx answer is success.
type Webhook struct {
	URL string
	// Header is added to every request (e.g. an Authorization token).
	Header http.Header
	// Client sends the requests; one with a 10s timeout when nil.
	Client *http.Client
	// Now stamps the time field; time.Now when nil.
	Now func() time.Time
}

// WebhookPayload is the body a Webhook posts.
type WebhookPayload struct {
	Key      string            `json:"key"`
	Severity Severity          `json:"severity"`
	Title    string            `json:"title"`
	Text     string            `json:"text,omitempty"`
	Fields   map[string]string `json:"fields,omitempty"`
	Time     time.Time         `json:"time"`
}

// Name implements Sink.
func (w *Webhook) Name() string { return "webhook" }

// Send implements Sink.
func (w *Webhook) Send(ctx context.Context, a Alert) error {
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	body, err := json.Marshal(WebhookPayload{Key: a.Key, Severity: a.Severity, Title: a.Title, Text: a.Text, Fields: a.Fields, Time: now().UTC()})
	if err != nil {
		return &DeliveryError{Sink: w.Name(), Err: err}
	}
	_, err = post(ctx, w.Name(), client(w.Client), w.URL, w.Header, body)
	return err
}

var defaultClient = &http.Client{Timeout: 10 * time.Second}

func client(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return defaultClient
}

// post sends body as JSON and classifies the answer: network errors and
// 5xx are retryable, other non-2xx are not. It returns the answer's body.
func post(ctx context.Context, sink string, c *http.Client, url string, header http.Header, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, &DeliveryError{Sink: sink, Err: err}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &DeliveryError{Sink: sink, Retryable: true, Err: redactURL(err)}
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, &DeliveryError{Sink: sink, Status: resp.StatusCode, Retryable: true, Err: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &DeliveryError{Sink: sink, Status: resp.StatusCode, Retryable: resp.StatusCode >= 500,
			Err: fmt.Errorf("%s", truncate(string(answer), 200))}
	}
	return answer, nil
}

// redactURL drops the URL from a client error: webhook URLs carry tokens.
func redactURL(err error) error {
	if ue, ok := err.(interface{ Unwrap() error }); ok {
		if inner := ue.Unwrap(); inner != nil {
			return fmt.Errorf("post: %w", inner)
		}
	}
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

var _ Sink = (*Webhook)(nil)
