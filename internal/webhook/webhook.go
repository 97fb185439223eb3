// Package webhook delivers the durable outbox's notifications to sellers'
// webhooks as SNS delivers them to an HTTP subscriber: a POST of the JSON
// envelope with SNS's headers, retried with exponential backoff until the
// endpoint answers 2xx or the attempts run out.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/meterd/meterd/internal/metering"
)

// Options tune a Dispatcher; zero values take the defaults.
type Options struct {
	Logger      *slog.Logger
	Clock       metering.Clock
	Client      *http.Client  // default: 10 s timeout
	Interval    time.Duration // outbox poll interval; default 250 ms
	MaxAttempts int           // default 10
	BaseBackoff time.Duration // first retry delay; default 1 s, doubling to MaxBackoff
	MaxBackoff  time.Duration // default 10 min
	// OnAttempt, if set, is told each attempt's outcome: delivered, retry
	// or failed.
	OnAttempt func(outcome string)
}

// Dispatcher polls the outbox and delivers due notifications.
type Dispatcher struct {
	outbox metering.Outbox
	o      Options
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

// Start begins delivering in the background until Stop.
func Start(outbox metering.Outbox, o Options) *Dispatcher {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = metering.SystemClock{}
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Interval <= 0 {
		o.Interval = 250 * time.Millisecond
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 10
	}
	if o.BaseBackoff <= 0 {
		o.BaseBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Minute
	}
	d := &Dispatcher{outbox: outbox, o: o, stop: make(chan struct{}), done: make(chan struct{})}
	go d.loop()
	return d
}

// Stop ends delivery and waits for in-flight attempts to be recorded.
func (d *Dispatcher) Stop() {
	d.once.Do(func() { close(d.stop) })
	<-d.done
}

func (d *Dispatcher) loop() {
	defer close(d.done)
	t := time.NewTicker(d.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			d.deliverDue()
		}
	}
}

// lease must outlast one delivery attempt (the client's timeout).
const lease = time.Minute

func (d *Dispatcher) deliverDue() {
	ctx, cancel := context.WithTimeout(context.Background(), lease)
	defer cancel()
	due, err := d.outbox.ClaimDue(ctx, d.o.Clock.Now(), lease, 32)
	if err != nil {
		d.o.Logger.Warn("webhook: claim", "error", err)
		return
	}
	var wg sync.WaitGroup
	for _, n := range due {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.deliver(ctx, n)
		}()
	}
	wg.Wait()
}

func (d *Dispatcher) deliver(ctx context.Context, n metering.Notification) {
	n.Attempts++
	err := d.post(ctx, n)
	now := d.o.Clock.Now()
	switch {
	case err == nil:
		n.Status, n.DeliveredAt, n.LastError = metering.DeliveryDelivered, now, ""
	case n.Attempts >= d.o.MaxAttempts:
		n.Status, n.LastError = metering.DeliveryFailed, err.Error()
	default:
		n.LastError = err.Error()
		n.NextAttempt = now.Add(d.backoff(n.Attempts))
	}
	if d.o.OnAttempt != nil {
		outcome := "retry"
		if n.Status != metering.DeliveryPending {
			outcome = string(n.Status)
		}
		d.o.OnAttempt(outcome)
	}
	if err != nil {
		d.o.Logger.Info("webhook: delivery failed", "id", n.ID, "url", n.URL, "attempt", n.Attempts, "error", err)
	}
	if err := d.outbox.Record(context.WithoutCancel(ctx), n); err != nil {
		d.o.Logger.Warn("webhook: record delivery", "id", n.ID, "error", err)
	}
}

// backoff doubles from BaseBackoff up to MaxBackoff, with ±20% jitter so
// that retries of many messages spread out.
func (d *Dispatcher) backoff(attempt int) time.Duration {
	b := d.o.BaseBackoff << min(attempt-1, 30)
	if b > d.o.MaxBackoff || b <= 0 {
		b = d.o.MaxBackoff
	}
	return time.Duration(float64(b) * (0.8 + 0.4*rand.Float64()))
}

func (d *Dispatcher) post(ctx context.Context, n metering.Notification) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL, bytes.NewReader(n.Body))
	if err != nil {
		return err
	}
	var env struct{ Type, MessageId, TopicArn string }
	json.Unmarshal(n.Body, &env)
	// SNS posts its JSON as text/plain with these headers.
	req.Header.Set("Content-Type", "text/plain; charset=UTF-8")
	req.Header.Set("x-amz-sns-message-type", env.Type)
	req.Header.Set("x-amz-sns-message-id", env.MessageId)
	req.Header.Set("x-amz-sns-topic-arn", env.TopicArn)
	req.Header.Set("User-Agent", "meterd-webhook (Amazon Simple Notification Service Agent compatible)")
	resp, err := d.o.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}
