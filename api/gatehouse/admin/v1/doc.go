// Package adminv1 holds the messages of Gatehouse's admin API (gatehouse.admin.v1), generated
// by protoc-gen-go from the .proto files beside it (scripts/gen-proto.sh); package admin
// implements the services.
package adminv1
