# Builds the riskmon binary into a small image. The console and the
# generated Sparkplug code are embedded or committed: no protoc, no node.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/riskmon ./cmd/riskmon

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/riskmon /usr/local/bin/riskmon
USER nonroot
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/riskmon"]
CMD ["serve", "--config", "/etc/riskmon/riskmon.yaml"]
