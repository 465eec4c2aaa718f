#!/usr/bin/env node
// CDK app: the iam-password-rotation function, its least-privilege role and, with
// -c createExample=true, an example bound user + secret rotated every 30 days. Settings come from
// cdk.json's "context" (override with -c key=value), with template.yaml's defaults; see README.md.
import * as fs from 'fs';
import * as path from 'path';
import * as cdk from 'aws-cdk-lib';
import {
  PasswordRotationStack, RotationConfig, DEFAULT_CONFIG, DEFAULT_RESETS, DEFAULT_STRATEGIES, ResetOptions, StrategyOptions,
  AuditOptions, DEFAULT_AUDIT, OrganizationOptions, DEFAULT_ORGANIZATION,
} from '../lib/rotation-stack';

const app = new cdk.App();

function context(key: string, fallback: string): string {
  const value = app.node.tryGetContext(key);
  return value === undefined || value === null ? fallback : String(value);
}

function flag(key: string, fallback: boolean): boolean {
  const value = context(key, String(fallback)).toLowerCase();
  if (value !== 'true' && value !== 'false') {
    throw new Error(`context ${key} must be true or false, got ${JSON.stringify(value)}`);
  }
  return value === 'true';
}

// The function's code: the directory `cargo lambda build --release [--arm64]` writes
// (it holds `bootstrap`). Without it (nothing built yet, e.g. CI synthesizing offline),
// fall back to placeholder-asset/ so synth still works; the stack then warns.
const assetDir = path.resolve(__dirname, '..', context('assetDir', '../../target/lambda/iam-password-rotation'));
const built = fs.existsSync(path.join(assetDir, 'bootstrap'));
const codeDir = built ? assetDir : path.resolve(__dirname, '..', 'placeholder-asset');

// Every context value is template.yaml's parameter of the same name in camelCase, with its
// default: no example user (CreateExample=false).
if (app.node.tryGetContext('example') !== undefined) {
  throw new Error('context example is not a setting: use -c createExample=... (template.yaml\'s CreateExample)');
}
const example = flag('createExample', false);
// The function's settings, camelCase like every other context value; each sets the
// environment variable in RotationConfig (see the README's "Configuration").
const CONFIG_CONTEXT: Record<keyof RotationConfig, string> = {
  PASSWORD_LENGTH: 'passwordLength',
  EXCLUDE_CHARACTERS: 'excludeCharacters',
  EXCLUDE_LOWERCASE: 'excludeLowercase',
  EXCLUDE_UPPERCASE: 'excludeUppercase',
  EXCLUDE_NUMBERS: 'excludeNumbers',
  EXCLUDE_PUNCTUATION: 'excludePunctuation',
  REQUIRE_EACH_INCLUDED_TYPE: 'requireEachIncludedType',
  PASSWORD_RESET_REQUIRED: 'passwordResetRequired',
  CREATE_LOGIN_PROFILE: 'createLoginProfile',
  REQUIRE_BINDING_TAG: 'requireBindingTag',
};
const config: RotationConfig = { ...DEFAULT_CONFIG };
for (const [key, name] of Object.entries(CONFIG_CONTEXT) as [keyof RotationConfig, string][]) {
  // An environment variable's name given as a context key would otherwise be ignored in silence.
  if (app.node.tryGetContext(key) !== undefined) {
    throw new Error(`context ${key} is not a setting: use -c ${name}=...`);
  }
  config[key] = context(name, DEFAULT_CONFIG[key]);
}

// Event-triggered resets (docs/resets.md): the same options as template.yaml's parameters.
const resets: ResetOptions = {
  onDemand: flag('onDemandResets', DEFAULT_RESETS.onDemand),
  onDemandSenderArns: context('onDemandSenderArns', '').split(',').map((arn) => arn.trim()).filter((arn) => arn !== ''),
  securityHub: flag('securityHubResets', DEFAULT_RESETS.securityHub),
  breakGlass: flag('breakGlassResets', DEFAULT_RESETS.breakGlass),
  checkout: flag('checkoutResets', DEFAULT_RESETS.checkout),
  checkoutSecretNamePrefix: context('checkoutSecretNamePrefix', DEFAULT_RESETS.checkoutSecretNamePrefix),
  drift: flag('driftRepair', DEFAULT_RESETS.drift),
  delayMinutes: Number(context('resetDelayMinutes', String(DEFAULT_RESETS.delayMinutes))),
  minIntervalMinutes: Number(context('resetMinIntervalMinutes', String(DEFAULT_RESETS.minIntervalMinutes))),
  dryRun: flag('resetDryRun', DEFAULT_RESETS.dryRun),
  outcomeEventBusName: context('outcomeEventBusName', DEFAULT_RESETS.outcomeEventBusName),
};

// The strategies the role allows (docs/self-service.md): the same options as template.yaml's
// UpdateLoginProfileStrategy and SelfServiceStrategy.
const strategies: StrategyOptions = {
  updateLoginProfile: flag('updateLoginProfileStrategy', DEFAULT_STRATEGIES.updateLoginProfile),
  selfService: flag('selfServiceStrategy', DEFAULT_STRATEGIES.selfService),
};

// The reconciliation audit and the organisation's member accounts (docs/organizations.md):
// the same options as template.yaml's AuditSchedule, AuditAccounts, AuditResetDrift,
// OrganizationId, MemberRoleName and MemberExternalId. -c auditSchedule= turns the audit off.
const audit: AuditOptions = {
  schedule: context('auditSchedule', DEFAULT_AUDIT.schedule),
  accounts: context('auditAccounts', DEFAULT_AUDIT.accounts),
  resetDrift: flag('auditResetDrift', DEFAULT_AUDIT.resetDrift),
};
const organization: OrganizationOptions = {
  organizationId: context('organizationId', DEFAULT_ORGANIZATION.organizationId),
  memberRoleName: context('memberRoleName', DEFAULT_ORGANIZATION.memberRoleName),
  memberExternalId: context('memberExternalId', DEFAULT_ORGANIZATION.memberExternalId),
};

new PasswordRotationStack(app, context('stackName', 'iam-password-rotation'), {
  description: 'iam-password-rotation: Secrets Manager rotation of IAM console passwords',
  // Environment-agnostic unless CDK_DEFAULT_ACCOUNT/REGION are known (cdk deploy sets
  // them from your credentials): synth needs no AWS access.
  env:
    process.env.CDK_DEFAULT_ACCOUNT && process.env.CDK_DEFAULT_REGION
      ? { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION }
      : undefined,
  codeDir,
  placeholderCode: !built,
  functionName: context('functionName', 'iam-password-rotation'),
  architecture: context('architecture', 'arm64'),
  userPath: context('userPath', '/'),
  applicationLogLevel: context('applicationLogLevel', 'INFO'),
  systemLogLevel: context('systemLogLevel', 'INFO'),
  logRetentionInDays: Number(context('logRetentionInDays', '90')),
  kmsKeyArn: context('kmsKeyArn', '') || undefined,
  config,
  exampleUserName: example ? context('exampleUserName', 'password-rotation-example') : undefined,
  resets,
  strategies,
  audit,
  organization,
});
