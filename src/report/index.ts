export {
  type Dashboard,
  type DashboardOptions,
  type ReportSource,
  startDashboard,
  storeSource,
} from './dashboard.js';
export { type FlowReport, flowFingerprint, readFlowReport } from './flow-report.js';
export { type PageOptions, renderPage, scriptJson } from './html.js';
export {
  type CheckpointRow,
  type DirectoryReport,
  isStore,
  type Report,
  readReport,
  readStoreReport,
  type StoreReport,
  StoreReportCache,
  storesUnder,
} from './report-data.js';
