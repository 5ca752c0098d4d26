export { type Dashboard, type DashboardOptions, startDashboard } from './dashboard.js';
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
