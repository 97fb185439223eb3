// Package metrics exposes meterd's Prometheus metrics. Other packages
// report through small interfaces they declare themselves, so only this
// package and app know about Prometheus.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the collectors of one meterd process.
type Metrics struct {
	registry   *prometheus.Registry
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	records    *prometheus.CounterVec
	batchCalls prometheus.Histogram
	batchRecs  prometheus.Histogram
	storeLat   prometheus.Histogram
	deliveries *prometheus.CounterVec
}

// New registers meterd's collectors and Go's runtime collectors on a new
// registry, so tests can create as many as they like.
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		registry: r,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meterd_requests_total",
			Help: "Data-plane requests by operation and AWS error code (empty on success).",
		}, []string{"operation", "error_code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "meterd_request_duration_seconds",
			Help:    "Data-plane request latency by operation, from body read to answer.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16), // 0.1 ms to ~3.3 s
		}, []string{"operation"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meterd_records_total",
			Help: "Usage records answered, by operation and outcome (Success, DuplicateRecord, CustomerNotSubscribed).",
		}, []string{"operation", "status"}),
		batchCalls: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "meterd_commit_calls",
			Help:    "Store calls sharing one commit (group commit).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		batchRecs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "meterd_commit_records",
			Help:    "Records written by one commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}),
		storeLat: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "meterd_store_commit_duration_seconds",
			Help:    "Time from a commit's start to its durable end.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16),
		}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meterd_webhook_deliveries_total",
			Help: "Webhook delivery attempts by outcome (delivered, retry, failed).",
		}, []string{"outcome"}),
	}
	r.MustRegister(m.requests, m.latency, m.records, m.batchCalls, m.batchRecs, m.storeLat, m.deliveries,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// ObserveRequest counts one data-plane request.
func (m *Metrics) ObserveRequest(operation, errorCode string, d time.Duration) {
	m.requests.WithLabelValues(operation, errorCode).Inc()
	m.latency.WithLabelValues(operation).Observe(d.Seconds())
}

// ObserveRecords counts records answered with a status.
func (m *Metrics) ObserveRecords(operation, status string, n int) {
	m.records.WithLabelValues(operation, status).Add(float64(n))
}

// ObserveCommit records one group commit.
func (m *Metrics) ObserveCommit(calls, records int, d time.Duration) {
	m.batchCalls.Observe(float64(calls))
	m.batchRecs.Observe(float64(records))
	m.storeLat.Observe(d.Seconds())
}

// ObserveDelivery counts one webhook delivery attempt.
func (m *Metrics) ObserveDelivery(outcome string) {
	m.deliveries.WithLabelValues(outcome).Inc()
}
