// Command echo is the baseline of the benchmark: a bare net/http server
// that answers POST /echo {"n": N} with {"n": N}, the same exchange as the
// W1 flow, and GET /healthz. `go run ./bench -scenario echo` starts it.
package main

import (
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "listen address")
	flag.Parse()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			N any `json:"n"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out, _ := json.Marshal(map[string]any{"n": in.N})
		w.Header().Set("Content-Type", "application/json")
		w.Write(out)
	})
	log.Fatal(http.ListenAndServe(*addr, mux))
}
