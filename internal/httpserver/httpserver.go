// Package httpserver puts meterd's handlers behind one listener, with the
// timeouts and panic recovery a service exposed to arbitrary clients needs.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/meterd/meterd/internal/awsproto"
)

// Server serves HTTP on one listener until Close.
type Server struct {
	srv    *http.Server
	ln     net.Listener
	done   chan struct{}
	logger *slog.Logger
}

// Routes are the handlers the server mounts.
type Routes struct {
	// DataPlane serves the AWS APIs: any path not claimed below, because an
	// SDK's custom endpoint may carry a path prefix.
	DataPlane http.Handler
	// RegisterUsageKeys serves GET /keys/register-usage/{N}.pem.
	RegisterUsageKeys http.Handler
	// Metrics serves GET /metrics (Prometheus).
	Metrics http.Handler
	// Ready reports whether meterd can serve: GET /readyz answers 503
	// while it returns an error.
	Ready func(ctx context.Context) error
	// Admin serves the admin API, every path under /admin/.
	Admin http.Handler
	// Dashboard serves the web dashboard, every path under /ui/.
	Dashboard http.Handler
}

// Listen binds addr and starts serving.
func Listen(addr string, routes Routes, logger *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if routes.Ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := routes.Ready(ctx); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintf(w, "not ready: %v\n", err)
				return
			}
		}
		w.Write([]byte("ready\n"))
	})
	if routes.Metrics != nil {
		mux.Handle("GET /metrics", routes.Metrics)
	}
	if routes.RegisterUsageKeys != nil {
		mux.Handle("GET /keys/register-usage/{file}", routes.RegisterUsageKeys)
	}
	if routes.Admin != nil {
		mux.Handle("/admin/", routes.Admin)
	}
	if routes.Dashboard != nil {
		mux.Handle("/ui/", routes.Dashboard)
	}
	mux.Handle("/", routes.DataPlane)
	s := &Server{
		ln:     ln,
		done:   make(chan struct{}),
		logger: logger,
		srv: &http.Server{
			Handler: recoverer(mux, logger),
			// Slow clients must not hold connections forever.
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		},
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http server stopped", "error", err)
		}
	}()
	return s, nil
}

// Addr is the bound address, with the real port when addr asked for :0.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops accepting, lets in-flight requests finish within ctx, and
// returns when the server has stopped.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	<-s.done
	return err
}

// recoverer turns a panic into a 500 InternalServiceErrorException so that
// one bad request never takes the process down.
func recoverer(next http.Handler, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				logger.Error("panic serving request", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				awsproto.WriteError(w, awsproto.Errorf(http.StatusInternalServerError, "InternalServiceErrorException", "An internal error occurred. Retry the request."))
			}
		}()
		next.ServeHTTP(w, r)
	})
}
