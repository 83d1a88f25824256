{{/* Name helpers shared by every template. */}}
{{- define "ifo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ifo.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "ifo.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "ifo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: infisical-secrets-operator
{{- end -}}

{{- define "ifo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ifo.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "ifo.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "ifo.webhookServiceName" -}}
{{ include "ifo.fullname" . }}-webhook
{{- end -}}

{{- define "ifo.certSecretName" -}}
{{ .Values.certificates.secretName | default (printf "%s-webhook-tls" (include "ifo.fullname" .)) }}
{{- end -}}

{{/* certs-gen's CA Secret (ca.crt, ca.key): read by certs-gen only, never mounted by the webhook. */}}
{{- define "ifo.caSecretName" -}}
{{ .Values.certificates.caSecretName | default (printf "%s-webhook-ca" (include "ifo.fullname" .)) }}
{{- end -}}

{{- define "ifo.validatingName" -}}
{{ include "ifo.fullname" . }}-validate
{{- end -}}

{{- define "ifo.mutatingName" -}}
{{ include "ifo.fullname" . }}-mutate
{{- end -}}

{{/* certs-gen ensure arguments, shared by the install/upgrade Job and the renewal CronJob. */}}
{{- define "ifo.certsGenEnsureArgs" -}}
- ensure
- --namespace={{ .Release.Namespace }}
- --service={{ include "ifo.webhookServiceName" . }}
- --secret-name={{ include "ifo.certSecretName" . }}
- --ca-secret-name={{ include "ifo.caSecretName" . }}
- --validity={{ .Values.certificates.certsGen.validity }}
- --renew-before={{ .Values.certificates.certsGen.renewBefore }}
- --ca-validity={{ .Values.certificates.certsGen.caValidity }}
- --validating-config={{ include "ifo.validatingName" . }}
- --mutating-config={{ include "ifo.mutatingName" . }}
- --log-level={{ .Values.logLevel }}
- --log-format={{ .Values.logFormat }}
{{- if ne .Values.clusterDomain "cluster.local" }}
- --dns-name={{ include "ifo.webhookServiceName" . }}.{{ .Release.Namespace }}.svc.{{ .Values.clusterDomain }}
{{- end }}
{{- end -}}

{{/* certs-gen's Pod, shared by the install/upgrade Job and the renewal CronJob: its own ServiceAccount,
     the only one bound to certs-gen's Role and ClusterRole. */}}
{{- define "ifo.certsGenPodSpec" -}}
serviceAccountName: {{ include "ifo.fullname" . }}-certs-gen
restartPolicy: OnFailure
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
containers:
  - name: certs-gen
    image: {{ include "ifo.image" . }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    command: ["/usr/local/bin/certs-gen"]
    args:
      {{- include "ifo.certsGenEnsureArgs" . | nindent 6 }}
    # The webhook's requests and limits, as when certs-gen ran in the webhook Pod (quota-friendly).
    resources:
      {{- toYaml .Values.webhook.resources | nindent 6 }}
    securityContext:
      {{- toYaml .Values.containerSecurityContext | nindent 6 }}
{{- end -}}
